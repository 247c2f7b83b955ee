"""The fixed initial noise (and conditions) every candidate of a search is sampled from, so that
two schedules are compared on the same starting points."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from .errors import DiffusionInputError
from .model import DiffusionModel


def check_seed(seed: int, field: str = "seed") -> int:
    """`seed` when torch's generator takes it (an integer in [0, 2**64 - 1]); else a one-line
    DiffusionInputError naming `field`."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
        raise DiffusionInputError(field, f"must be between 0 and 2**64 - 1; got {seed!r}")
    return seed


@dataclass(frozen=True, eq=False)  # tensors: identity, not element-wise, equality
class NoiseBank:
    """noise (N, C, H, W) drawn on the CPU from a seeded generator (the same on every device),
    and conditions (N,): class labels or prompt indices, balanced over the model's conditions
    (sample i gets condition i % num_conditions), or None for an unconditional model."""

    noise: torch.Tensor
    conditions: torch.Tensor | None
    seed: int

    @classmethod
    def for_model(cls, model: DiffusionModel, num_samples: int, seed: int = 0,
                  conditions: torch.Tensor | None = None) -> NoiseBank:
        if num_samples < 1:
            raise DiffusionInputError("num_samples", f"must be at least 1; got {num_samples}")
        generator = torch.Generator().manual_seed(check_seed(seed))
        noise = torch.randn((num_samples, *model.sample_shape), generator=generator)
        count = model.num_conditions
        if conditions is not None:
            conditions = torch.as_tensor(conditions, dtype=torch.long).flatten()
            if len(conditions) != num_samples:
                raise DiffusionInputError("conditions", f"{len(conditions)} given for "
                                          f"{num_samples} samples")
            if count is None:
                raise DiffusionInputError("conditions", f"{model.source} is unconditional")
            if conditions.min() < 0 or conditions.max() >= count:
                raise DiffusionInputError("conditions", f"must lie in [0, {count - 1}]")
        elif count is not None:
            conditions = torch.arange(num_samples) % count
        return cls(noise=noise, conditions=conditions, seed=seed)

    def first(self, count: int) -> NoiseBank:
        """The first `count` samples (a prefix: balanced labels stay balanced)."""
        conditions = None if self.conditions is None else self.conditions[:count]
        return NoiseBank(noise=self.noise[:count], conditions=conditions, seed=self.seed)

    def __len__(self) -> int:
        return len(self.noise)

    def batches(self, batch_size: int, device: torch.device | str,
                dtype: torch.dtype = torch.float32
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """(noise, conditions) in consecutive batches of at most batch_size, on device."""
        if batch_size < 1:
            raise DiffusionInputError("batch_size", f"must be at least 1; got {batch_size}")
        for start in range(0, len(self.noise), batch_size):
            noise = self.noise[start:start + batch_size].to(device, dtype)
            conditions = self.conditions
            yield noise, None if conditions is None else conditions[start:start + batch_size].to(device)
