"""FID of generated images against cached reference statistics: torchmetrics'
FrechetInceptionDistance with a pluggable feature extractor, on the GPU when present."""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics.image.fid import FrechetInceptionDistance

from .errors import DiffusionInputError
from .features import FeatureExtractor, load_extractor
from .reference import ReferenceStats, check_enough_images


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class FIDEvaluator:
    """Scores a batch of generated images (N, C, H, W) in [-1, 1] by FID against fixed
    reference statistics. The reference half of the metric is loaded once and kept across
    calls (reset_real_features=False); each call resets only the generated half."""

    def __init__(
        self,
        reference: ReferenceStats,
        extractor: FeatureExtractor | str | None = None,
        device: str | torch.device | None = None,
        batch_size: int = 256,
    ) -> None:
        self.extractor = load_extractor(extractor)
        self.device = torch.device(device) if device is not None else default_device()
        self.batch_size = batch_size
        if reference.mean.shape != (self.extractor.num_features,):
            raise DiffusionInputError(
                "reference", f"statistics have {reference.mean.shape[0]} features, the "
                f"extractor {self.extractor.name} gives {self.extractor.num_features}")
        self.reference = reference
        self.extractor.to(self.device)
        self.metric = FrechetInceptionDistance(
            feature=self.extractor, reset_real_features=False, normalize=True
        ).to(self.device)
        self._load_reference(reference)

    def _load_reference(self, stats: ReferenceStats) -> None:
        # torchmetrics keeps running sums: sum = n * mean, cov_sum = (n-1) cov + n mean mean^T.
        mean = torch.from_numpy(np.asarray(stats.mean, dtype=np.float64)).to(self.device)
        cov = torch.from_numpy(np.asarray(stats.cov, dtype=np.float64)).to(self.device)
        count = stats.count
        self.metric.real_features_sum = mean * count
        self.metric.real_features_cov_sum = cov * (count - 1) + count * torch.outer(mean, mean)
        self.metric.real_features_num_samples = torch.tensor(count, device=self.device)

    @property
    def min_images(self) -> int:
        return self.extractor.num_features + 1

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> float:
        if not isinstance(images, torch.Tensor) or images.ndim != 4:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images)
            raise DiffusionInputError("images", f"expected a (N, C, H, W) tensor; got {shape}")
        check_enough_images(len(images), self.extractor, "images")
        self.metric.reset()
        for start in range(0, len(images), self.batch_size):
            batch = images[start:start + self.batch_size].to(self.device).float()
            self.metric.update(batch.clamp(-1.0, 1.0), real=False)
        return float(self.metric.compute())
