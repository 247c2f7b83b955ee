"""Per-step architecture: the UNet's skippable units and skipping a set of them for one network
call, without copying the model.

A unit is a resnet block or an attention block inside the UNet's down, mid or up blocks; its
output is a shortcut of its input plus a residual. A skipped unit returns its shortcut (a
resnet: the input, resampled and passed through conv_shortcut where the block has them, divided
by the block's output scale factor; an attention: its input) plus the residual it computed at
the latest earlier step of the same sampling run, or no residual where it has not run yet (the
AutoDiffusion paper's skip, which zeroes the residual branch at every step). Reusing the
residual is an addition to the paper in the spirit of DeepCache (Ma et al., CVPR 2024): a unit's
residual changes slowly between neighbouring steps, and on the shipped model it turns a
skip that ruins the samples (FID 619) into one that costs little (14.6 against 6.3 full).
`UnitSkipper(unet, reuse=False)` gives the paper's skip. Samplers, down- and upsamplers are
never skipped: they change shapes.

Skipping swaps the modules' forward for the duration of a `with` block, so it is cheap enough
to do at every step; a model must not be sampled from two threads while units are skipped."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from .errors import SkipSetError

UnitKind = Literal["resnet", "attention"]
SkipSet = tuple[str, ...]
_NO_INSTANCE_FORWARD = object()


@dataclass(frozen=True)
class SkipUnit:
    """name: stable and short ("down.1.attn.0", "mid.resnet.1", "up.2.resnet.0");
    kind: "resnet" or "attention"; path: the module's dotted path inside the UNet."""

    name: str
    kind: UnitKind
    path: str


def _block_units(prefix: str, path: str, block: nn.Module) -> list[SkipUnit]:
    resnets = list(getattr(block, "resnets", None) or [])
    attentions = list(getattr(block, "attentions", None) or [])
    units: list[SkipUnit] = []
    # Execution order: resnet j, then attention j (the mid block starts with an extra resnet).
    for j in range(max(len(resnets), len(attentions))):
        if j < len(resnets):
            units.append(SkipUnit(f"{prefix}.resnet.{j}", "resnet", f"{path}.resnets.{j}"))
        if j < len(attentions) and attentions[j] is not None:
            units.append(SkipUnit(f"{prefix}.attn.{j}", "attention", f"{path}.attentions.{j}"))
    return units


def skippable_units(unet: nn.Module) -> list[SkipUnit]:
    """Every skippable unit of a diffusers UNet, in execution order."""
    units: list[SkipUnit] = []
    for i, block in enumerate(getattr(unet, "down_blocks", [])):
        units += _block_units(f"down.{i}", f"down_blocks.{i}", block)
    mid = getattr(unet, "mid_block", None)
    if mid is not None:
        units += _block_units("mid", "mid_block", mid)
    for i, block in enumerate(getattr(unet, "up_blocks", [])):
        units += _block_units(f"up.{i}", f"up_blocks.{i}", block)
    return units


def _resnet_shortcut(block: Any) -> Callable[..., torch.Tensor]:
    def shortcut(input_tensor: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        value = input_tensor
        if getattr(block, "upsample", None) is not None:
            value = block.upsample(value)
        elif getattr(block, "downsample", None) is not None:
            value = block.downsample(value)
        if getattr(block, "conv_shortcut", None) is not None:
            value = block.conv_shortcut(value)
        return value / getattr(block, "output_scale_factor", 1.0)

    return shortcut


def _attention_shortcut(hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    return hidden_states


def _output_wrapper(block: nn.Module, kind: UnitKind) -> Callable[[torch.Tensor, dict[str, Any]], Any]:
    """Puts a unit's output tensor into the type its forward returns (an attention block of
    the Transformer2DModel kind returns an output object or a tuple)."""
    if kind == "resnet" or "return_dict" not in inspect.signature(type(block).forward).parameters:
        return lambda tensor, kwargs: tensor

    def wrap(tensor: torch.Tensor, kwargs: dict[str, Any]) -> Any:
        if not kwargs.get("return_dict", True):
            return (tensor,)
        from diffusers.models.modeling_outputs import Transformer2DModelOutput

        return Transformer2DModelOutput(sample=tensor)

    return wrap


def _output_tensor(output: Any) -> torch.Tensor:
    if isinstance(output, torch.Tensor):
        return output
    return output[0] if isinstance(output, tuple) else output.sample


class UnitSkipper:
    """Looks a UNet's units up once; `skip(skip_set, record=...)` is a context manager that
    skips them. With `reuse` (the default) it keeps, per sampling run, the latest residual of
    each unit in `record`; `new_run()` forgets them (a new batch of noise)."""

    def __init__(self, unet: nn.Module, reuse: bool = True) -> None:
        self.unet = unet
        self.reuse = reuse
        self.units = skippable_units(unet)
        self.by_name = {unit.name: unit for unit in self.units}
        self._shortcuts: dict[str, Callable[..., torch.Tensor]] = {}
        self._residuals: dict[str, torch.Tensor] = {}

    @property
    def names(self) -> list[str]:
        return [unit.name for unit in self.units]

    def validate(self, skip_set: Iterable[str], argument: str = "skip_set") -> SkipSet:
        """The skip set as a sorted tuple of unique names; an unknown name is an error."""
        if isinstance(skip_set, str):
            raise SkipSetError(argument, f"expected a collection of unit names; got the string "
                               f"{skip_set!r}")
        names = tuple(sorted(set(skip_set)))
        unknown = [name for name in names if name not in self.by_name]
        if unknown:
            sample = ", ".join(self.names[:4])
            raise SkipSetError(argument, f"unknown unit {unknown[0]!r}; units are named like "
                               f"{sample}, ... ({len(self.names)} in all)")
        return names

    def module(self, name: str) -> nn.Module:
        return self.unet.get_submodule(self.by_name[name].path)

    def new_run(self) -> None:
        """Forget the residuals of the previous sampling run."""
        self._residuals.clear()

    def _shortcut(self, name: str) -> Callable[..., torch.Tensor]:
        if name not in self._shortcuts:
            unit, block = self.by_name[name], self.module(name)
            self._shortcuts[name] = (_resnet_shortcut(block) if unit.kind == "resnet"
                                     else _attention_shortcut)
        return self._shortcuts[name]

    def _skipped(self, name: str) -> Callable[..., Any]:
        shortcut = self._shortcut(name)
        wrap = _output_wrapper(self.module(name), self.by_name[name].kind)

        def skipped_forward(*args: Any, **kwargs: Any) -> Any:
            value = shortcut(*args, **kwargs)
            residual = self._residuals.get(name) if self.reuse else None
            if residual is not None and residual.shape == value.shape:
                value = value + residual
            return wrap(value, kwargs)

        return skipped_forward

    def _recording(self, name: str, forward: Callable[..., Any]) -> Callable[..., Any]:
        shortcut = self._shortcut(name)

        def recording_forward(*args: Any, **kwargs: Any) -> Any:
            output = forward(*args, **kwargs)
            self._residuals[name] = _output_tensor(output) - shortcut(*args, **kwargs)
            return output

        return recording_forward

    @contextmanager
    def skip(self, skip_set: Iterable[str], record: Iterable[str] = ()) -> Iterator[SkipSet]:
        """Skip `skip_set` inside the block; the units of `record` that run keep their residual
        for a later step that skips them (only with reuse)."""
        names = self.validate(skip_set)
        recorded = [n for n in self.validate(record, "record") if n not in names] if self.reuse else []
        swapped: list[tuple[nn.Module, object]] = []
        try:
            for name in [*names, *recorded]:
                block = self.module(name)
                swapped.append((block, block.__dict__.get("forward", _NO_INSTANCE_FORWARD)))
                block.forward = (self._skipped(name) if name in names  # type: ignore[method-assign]
                                 else self._recording(name, block.forward))
            yield names
        finally:
            for block, previous in reversed(swapped):
                if previous is _NO_INSTANCE_FORWARD:
                    del block.forward
                else:
                    block.__dict__["forward"] = previous


def later_skips(skip_sets: Sequence[SkipSet]) -> list[SkipSet]:
    """Per step, the units that a later step skips: what that step must record for reuse."""
    later: list[SkipSet] = []
    union: set[str] = set()
    for skip_set in reversed(skip_sets):
        later.append(tuple(sorted(union)))
        union |= set(skip_set)
    return later[::-1]


@contextmanager
def skipping(unet: nn.Module, skip_set: Iterable[str]) -> Iterator[SkipSet]:
    """Skip the named units of `unet` inside the block: `with skipping(unet, {"mid.attn.0"}):`
    (one network call: there is no earlier residual to reuse, so this is the paper's skip)."""
    with UnitSkipper(unet, reuse=False).skip(skip_set) as names:
        yield names
