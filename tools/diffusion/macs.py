"""Cost model: the multiply-accumulates (MACs) a network call actually executes, per image, for
a given skip set, so that a budget is in MACs and not in counts of layers.

Every unit is measured once: one call with nothing skipped and one with every unit skipped,
under torch's FlopCounterMode (MACs = FLOPs / 2; convolutions, matmuls and attention, with
attention forced to the math kernel so it is counted on every device). A skipped unit saves
its full cost less what its skipped form still runs (a resnet's conv_shortcut). Units never
change shapes, so savings add up exactly: step MACs = full - sum of the skipped units' savings;
a schedule's MACs = the sum over its steps."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from .model import DiffusionModel
from .skips import UnitSkipper


@dataclass(frozen=True)
class MacsTable:
    """full: MACs of one call for one image with nothing skipped (both halves of classifier-
    free guidance included); saved[name]: MACs one image-step saves when `name` is skipped."""

    full: int
    saved: dict[str, int]

    @property
    def units(self) -> list[str]:
        return list(self.saved)

    def step_macs(self, skip_set: Iterable[str] = ()) -> int:
        """MACs of one network call for one image with `skip_set` skipped."""
        names = set(skip_set)
        unknown = names - self.saved.keys()
        if unknown:
            from .errors import SkipSetError

            raise SkipSetError("skip_set", f"unknown unit {sorted(unknown)[0]!r}")
        return self.full - sum(self.saved[name] for name in names)

    def schedule_macs(self, skip_sets: Sequence[Iterable[str]]) -> int:
        """MACs per image of a whole schedule: one entry (a skip set, () for the full
        network) per step."""
        return sum(self.step_macs(skip_set) for skip_set in skip_sets)


def _counted_call(model: DiffusionModel, skipper: UnitSkipper, skip_set: Iterable[str]
                  ) -> FlopCounterMode:
    shape = (1, *model.sample_shape)
    sample = torch.zeros(shape, device=model.device, dtype=model.dtype)
    count = model.num_conditions
    conditions = None if count is None else torch.zeros(1, dtype=torch.long, device=model.device)
    timestep = torch.tensor(model.num_train_timesteps // 2, device=model.device)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), sdpa_kernel([SDPBackend.MATH]), skipper.skip(skip_set), counter:
        model.predict_noise(sample, timestep, conditions)
    return counter


def _module_macs(counter: FlopCounterMode, root: str, path: str) -> int:
    counts = counter.get_flop_counts().get(f"{root}.{path}", {})
    return int(sum(counts.values())) // 2


def count_macs(model: DiffusionModel, skip_set: Iterable[str] = ()) -> int:
    """MACs of one network call for one image with skip_set skipped, counted directly (one
    forward pass). measure_macs(model).step_macs(skip_set) gives the same number, cheaply."""
    return int(_counted_call(model, UnitSkipper(model.unet), skip_set).get_total_flops()) // 2


def measure_macs(model: DiffusionModel) -> MacsTable:
    """The MACs table of a model: two counted forward passes."""
    skipper = UnitSkipper(model.unet)
    root = type(model.unet).__name__
    full = _counted_call(model, skipper, ())
    skipped = _counted_call(model, skipper, skipper.names)
    saved = {unit.name: _module_macs(full, root, unit.path) - _module_macs(skipped, root, unit.path)
             for unit in skipper.units}
    return MacsTable(full=int(full.get_total_flops()) // 2, saved=saved)


def step_macs(table: MacsTable, skip_set: Iterable[str] = ()) -> int:
    return table.step_macs(skip_set)


def schedule_macs(table: MacsTable, skip_sets: Sequence[Iterable[str]]) -> int:
    return table.schedule_macs(skip_sets)
