"""Feature extractors for FID: the small digits network shipped with the project, and
InceptionV3 from a local weights file (see inception.py). Every extractor takes images in
[-1, 1] shaped (N, C, H, W) and returns (N, num_features); it adapts channels and size itself."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .errors import DiffusionInputError

DIGITS_FEATURES_FILE = Path(__file__).parent / "assets" / "digits_features.safetensors"
DIGITS_FEATURE_SIZE = 32


class FeatureExtractor(nn.Module):
    """Base of the pluggable extractors: `num_features`, `input_shape` (C, H, W it expects
    after its own adaptation) and a `fingerprint` that identifies name and weights (it keys the
    reference-statistics cache)."""

    num_features: int
    name: str = "extractor"

    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.name.encode())
        for key, tensor in sorted(self.state_dict().items()):
            digest.update(key.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return f"{self.name}-{digest.hexdigest()[:16]}"

    def train(self, mode: bool = True) -> FeatureExtractor:
        # An extractor is frozen: torchmetrics may call .train(); it stays in eval mode.
        return super().train(False)


class DigitsClassifier(nn.Module):
    """A tiny CNN trained to classify the shipped digits; its penultimate layer (before the
    activation, so no feature is ever dead) is the feature space of the digits FID."""

    def __init__(self, feature_size: int = DIGITS_FEATURE_SIZE) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 16 -> 8
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 8 -> 4
            nn.Flatten(), nn.Linear(64 * 4 * 4, feature_size),
        )
        self.head = nn.Sequential(nn.SiLU(), nn.Linear(feature_size, 10))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


class DigitsFeatures(FeatureExtractor):
    """The shipped extractor: 1x16x16 images in [-1, 1] -> 32 features (penultimate layer
    of DigitsClassifier). Images of another size are resized; RGB is averaged to grey."""

    name = "digits-cnn"

    def __init__(self, classifier: DigitsClassifier) -> None:
        super().__init__()
        self.classifier = classifier
        self.num_features = int(classifier.head[1].in_features)  # type: ignore[arg-type]
        self.input_shape = (1, 16, 16)
        self.eval()

    @classmethod
    def load(cls, path: str | Path | None = None) -> DigitsFeatures:
        from safetensors.torch import load_file

        file = Path(path) if path is not None else DIGITS_FEATURES_FILE
        if not file.is_file():
            raise DiffusionInputError(
                "features", f"{file} does not exist (train it: python -m "
                "optograph.tools.diffusion.train_features)")
        state = load_file(str(file))
        classifier = DigitsClassifier(feature_size=state["head.1.weight"].shape[1])
        classifier.load_state_dict(state)
        return cls(classifier)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        images = images.float()
        if images.shape[1] != 1:
            images = images.mean(dim=1, keepdim=True)
        if tuple(images.shape[-2:]) != self.input_shape[1:]:
            images = F.interpolate(images, size=self.input_shape[1:], mode="bilinear",
                                   align_corners=False, antialias=True)
        return self.classifier.features(images)


def load_extractor(spec: str | FeatureExtractor | None = None) -> FeatureExtractor:
    """"digits" (default) -> the shipped network; "inception:PATH" or a path to a .pth file
    -> InceptionV3 with the FID weights at PATH; an extractor instance passes through."""
    if isinstance(spec, FeatureExtractor):
        return spec
    if spec is None or spec == "digits":
        return DigitsFeatures.load()
    if spec.startswith("digits:"):
        return DigitsFeatures.load(spec.removeprefix("digits:"))
    if spec.startswith("inception:") or spec.endswith((".pth", ".pt")):
        from .inception import InceptionFeatures

        return InceptionFeatures.load(spec.removeprefix("inception:"))
    raise DiffusionInputError(
        "features", f"unknown extractor {spec!r}; use 'digits' or 'inception:/path/to/weights.pth'")
