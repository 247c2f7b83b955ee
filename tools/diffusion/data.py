"""The project's shipped image data: scikit-learn's 8x8 digits, upsampled (no download)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

Split = Literal["train", "test", "all"]
IMAGE_SIZE = 16
TEST_EVERY = 5  # every 5th image is held out: a fixed, documented split


def load_digits_images(size: int = IMAGE_SIZE, split: Split = "all") -> tuple[torch.Tensor, torch.Tensor]:
    """(images, labels): images (N, 1, size, size) float32 in [-1, 1], labels (N,) int64.

    The digits' 0..16 grey levels are scaled to [-1, 1] and upsampled bilinearly."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(np.asarray(bunch.images, dtype=np.float32) / 16.0 * 2.0 - 1.0)
    labels = torch.from_numpy(np.asarray(bunch.target, dtype=np.int64))
    images = images[:, None]
    if size != images.shape[-1]:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    index = torch.arange(len(images))
    if split == "train":
        keep = index % TEST_EVERY != 0
    elif split == "test":
        keep = index % TEST_EVERY == 0
    else:
        keep = torch.ones_like(index, dtype=torch.bool)
    return images[keep].clamp(-1.0, 1.0).contiguous(), labels[keep]
