"""Reference sets for FID and their statistics (mean, covariance of the features), computed
once and cached on disk, keyed by a hash of the images and of the extractor.

A reference spec is one of: "digits" (the shipped digits the model was trained on: the train
split, 1,437 images, as FID references are usually the training data), "digits-test" (the
held-out split, 360 images), a .npy/.npz file
(N,H,W / N,C,H,W / N,H,W,C; uint8 0..255, floats in [0,1] or [-1,1]), a folder of images
(png/jpg/bmp), or an images tensor. The proxy that needs no real data is the same statistics
over the model's own many-step samples (see `proxy_reference`)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import numpy as np
import torch

from .errors import DiffusionInputError
from .features import FeatureExtractor

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
ARGUMENT = "reference"


@dataclass(frozen=True)
class ReferenceStats:
    """Feature statistics of a reference set: float64 mean (d,), covariance (d, d), count."""

    mean: np.ndarray
    cov: np.ndarray
    count: int
    key: str = ""

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp.npz")
        np.savez(partial, mean=self.mean, cov=self.cov, count=self.count, key=self.key)
        os.replace(partial, path)

    @classmethod
    def load(cls, path: Path) -> ReferenceStats:
        with np.load(path) as data:
            return cls(data["mean"], data["cov"], int(data["count"]), str(data["key"]))


# The shipped reference sets: name -> split of the shipped digits. The model was trained on
# the train split, so "digits" measures how close samples come to what the model learned
# (the usual FID protocol); the shipped feature network was trained on that split too, which
# puts held-out digits 23 FID away from it (see docs/diffusion.md).
SHIPPED_REFERENCES: Mapping[str, Literal["train", "test"]] = MappingProxyType(
    {"digits": "train", "digits-test": "test"})


def default_cache_dir() -> Path:
    root = os.environ.get("OPTOGRAPH_CACHE") or Path.home() / ".cache" / "optograph"
    return Path(root) / "fid"


def _to_unit_range(array: np.ndarray, source: str) -> torch.Tensor:
    if array.dtype == np.uint8:
        images = array.astype(np.float32) / 127.5 - 1.0
    elif np.issubdtype(array.dtype, np.floating):
        low, high = float(array.min()), float(array.max())
        if low >= 0.0 and high <= 1.0:
            images = array.astype(np.float32) * 2.0 - 1.0
        elif low >= -1.0 - 1e-4 and high <= 1.0 + 1e-4:
            images = array.astype(np.float32)
        else:
            raise DiffusionInputError(
                ARGUMENT, f"{source}: float values span [{low:.3g}, {high:.3g}]; "
                "expected [0, 1] or [-1, 1]")
    else:
        raise DiffusionInputError(ARGUMENT, f"{source}: unsupported dtype {array.dtype}")
    if images.ndim == 3:
        images = images[:, None]
    elif images.ndim == 4 and images.shape[-1] in (1, 3, 4) and images.shape[1] not in (1, 3, 4):
        images = images.transpose(0, 3, 1, 2)
    if images.ndim != 4:
        raise DiffusionInputError(
            ARGUMENT, f"{source}: array of shape {tuple(array.shape)} is not a stack of images")
    return torch.from_numpy(np.ascontiguousarray(images[:, :3])).clamp(-1.0, 1.0)


def _read_array_file(path: Path) -> np.ndarray:
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DiffusionInputError(ARGUMENT, f"{path}: cannot read array file ({error})") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            names = ["images"] if "images" in loaded.files else loaded.files
            if not names:
                raise DiffusionInputError(ARGUMENT, f"{path}: empty .npz file")
            return loaded[names[0]]
    return loaded


def _read_image(file: Path, mode: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as image:
            return np.asarray(image.convert(mode), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DiffusionInputError(ARGUMENT, f"{file}: not a readable image ({reason})") from None


def _read_folder(path: Path, channels: int) -> np.ndarray:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DiffusionInputError(ARGUMENT, f"{path}: no {'/'.join(IMAGE_SUFFIXES)} images")
    mode = "L" if channels == 1 else "RGB"
    arrays = [_read_image(file, mode) for file in files]
    if len({a.shape for a in arrays}) != 1:
        raise DiffusionInputError(ARGUMENT, f"{path}: images differ in size")
    return np.stack(arrays)


def load_reference_images(
    spec: str | Path | torch.Tensor, image_shape: tuple[int, int, int] | None = None
) -> torch.Tensor:
    """The images of a reference spec, float32 (N, C, H, W) in [-1, 1], checked against
    image_shape (the model's sample shape) when given."""
    if isinstance(spec, torch.Tensor):
        images = spec.float()
        source = "tensor"
    elif str(spec) in SHIPPED_REFERENCES:
        from .data import load_digits_images

        size = image_shape[-1] if image_shape is not None else 16
        images, _ = load_digits_images(size=size, split=SHIPPED_REFERENCES[str(spec)])
        source = str(spec)
    else:
        path = Path(spec)
        source = str(path)
        if path.is_dir():
            channels = image_shape[0] if image_shape is not None else 3
            images = _to_unit_range(_read_folder(path, channels), source)
        elif path.is_file() and path.suffix in (".npy", ".npz"):
            images = _to_unit_range(_read_array_file(path), source)
        else:
            raise DiffusionInputError(
                ARGUMENT, f"{spec!r} is not 'digits', 'digits-test', an existing .npy/.npz "
                "file or a folder")
    if images.ndim != 4:
        raise DiffusionInputError(ARGUMENT, f"{source}: expected (N, C, H, W); got {tuple(images.shape)}")
    if image_shape is not None and tuple(images.shape[1:]) != tuple(image_shape):
        got = "x".join(map(str, images.shape[1:]))
        want = "x".join(map(str, image_shape))
        raise DiffusionInputError(ARGUMENT, f"{source}: images are {got}, the model makes {want}")
    return images


def check_enough_images(count: int, extractor: FeatureExtractor, argument: str) -> None:
    """FID needs a full-rank covariance: more images than features."""
    need = extractor.num_features + 1
    if count < need:
        raise DiffusionInputError(
            argument, f"{count} images are too few for {extractor.num_features} features "
            f"(need at least {need})")


def _device_of(extractor: FeatureExtractor) -> torch.device:
    parameter = next(extractor.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


@torch.no_grad()
def feature_statistics(
    images: torch.Tensor, extractor: FeatureExtractor, batch_size: int = 256, key: str = ""
) -> ReferenceStats:
    """Mean and covariance (float64) of the extractor's features over images, batched."""
    check_enough_images(len(images), extractor, ARGUMENT)
    device = _device_of(extractor)
    total = torch.zeros(extractor.num_features, dtype=torch.float64, device=device)
    outer = torch.zeros(extractor.num_features, extractor.num_features, dtype=torch.float64,
                        device=device)
    for start in range(0, len(images), batch_size):
        features = extractor(images[start:start + batch_size].to(device)).double()
        total += features.sum(0)
        outer += features.T @ features
    count = len(images)
    mean = total / count
    cov = (outer - count * torch.outer(mean, mean)) / (count - 1)
    return ReferenceStats(mean.cpu().numpy(), cov.cpu().numpy(), count, key)


def images_hash(images: torch.Tensor) -> str:
    digest = hashlib.sha256(str(tuple(images.shape)).encode())
    digest.update(images.detach().cpu().float().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def reference_statistics(
    spec: str | Path | torch.Tensor,
    extractor: FeatureExtractor,
    image_shape: tuple[int, int, int] | None = None,
    cache_dir: str | Path | None = None,
    batch_size: int = 256,
) -> ReferenceStats:
    """Statistics of a reference set, read from the cache when the same images were already
    seen by the same extractor, else computed and cached."""
    images = load_reference_images(spec, image_shape)
    check_enough_images(len(images), extractor, ARGUMENT)
    key = f"{images_hash(images)}-{extractor.fingerprint()}"
    path = Path(cache_dir or default_cache_dir()) / f"{key}.npz"
    if path.is_file():
        try:
            return ReferenceStats.load(path)
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache entry is recomputed
    stats = feature_statistics(images, extractor, batch_size, key)
    stats.save(path)
    return stats


def proxy_reference(
    generate: Callable[[], torch.Tensor],
    extractor: FeatureExtractor,
    label: str,
    cache_dir: str | Path | None = None,
    batch_size: int = 256,
) -> ReferenceStats:
    """Statistics of the model's own many-step samples (the proxy that needs no real data).
    `label` identifies model, sampler and sample count in the cache; generate() runs only
    on a cache miss."""
    key = hashlib.sha256(f"{label}|{extractor.fingerprint()}".encode()).hexdigest()[:24]
    path = Path(cache_dir or default_cache_dir()) / f"proxy-{key}.npz"
    if path.is_file():
        return ReferenceStats.load(path)
    stats = feature_statistics(generate(), extractor, batch_size, f"proxy-{key}")
    stats.save(path)
    return stats
