"""Per-step architecture: the UNet's skippable units and skipping a set of them for one network
call, without copying the model.

A unit is a resnet block or an attention block inside the UNet's down, mid or up blocks.
A skipped resnet returns its shortcut (the input, resampled and passed through conv_shortcut
where the block has them, divided by the block's output scale factor): the block's output with
its residual branch zeroed. A skipped attention (diffusers' Attention, Transformer2DModel, ...)
returns its input. Samplers, down- and upsamplers are never skipped: they change shapes.

Skipping swaps the modules' forward for the duration of a `with` block, so it is cheap enough
to do at every step; a model must not be sampled from two threads while units are skipped."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
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


def _skipped_resnet(block: Any) -> Callable[..., torch.Tensor]:
    def forward(input_tensor: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        shortcut = input_tensor
        if getattr(block, "upsample", None) is not None:
            shortcut = block.upsample(shortcut)
        elif getattr(block, "downsample", None) is not None:
            shortcut = block.downsample(shortcut)
        if getattr(block, "conv_shortcut", None) is not None:
            shortcut = block.conv_shortcut(shortcut)
        return shortcut / getattr(block, "output_scale_factor", 1.0)

    return forward


def _skipped_attention(block: nn.Module) -> Callable[..., Any]:
    returns_output = "return_dict" in inspect.signature(type(block).forward).parameters

    def forward(hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        if not returns_output:
            return hidden_states
        if not kwargs.get("return_dict", True):
            return (hidden_states,)
        from diffusers.models.modeling_outputs import Transformer2DModelOutput

        return Transformer2DModelOutput(sample=hidden_states)

    return forward


class UnitSkipper:
    """Looks a UNet's units up once; `skip(skip_set)` is a context manager that skips them."""

    def __init__(self, unet: nn.Module) -> None:
        self.unet = unet
        self.units = skippable_units(unet)
        self.by_name = {unit.name: unit for unit in self.units}
        self._replacements: dict[str, Callable[..., Any]] = {}

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

    def _replacement(self, name: str) -> Callable[..., Any]:
        if name not in self._replacements:
            unit, block = self.by_name[name], self.module(name)
            self._replacements[name] = (
                _skipped_resnet(block) if unit.kind == "resnet" else _skipped_attention(block))
        return self._replacements[name]

    @contextmanager
    def skip(self, skip_set: Iterable[str]) -> Iterator[SkipSet]:
        names = self.validate(skip_set)
        swapped: list[tuple[nn.Module, object]] = []
        try:
            for name in names:
                block = self.module(name)
                swapped.append((block, block.__dict__.get("forward", _NO_INSTANCE_FORWARD)))
                block.forward = self._replacement(name)  # type: ignore[method-assign]
            yield names
        finally:
            for block, previous in reversed(swapped):
                if previous is _NO_INSTANCE_FORWARD:
                    del block.forward
                else:
                    block.__dict__["forward"] = previous


@contextmanager
def skipping(unet: nn.Module, skip_set: Iterable[str]) -> Iterator[SkipSet]:
    """Skip the named units of `unet` inside the block: `with skipping(unet, {"mid.attn.0"}):`."""
    with UnitSkipper(unet).skip(skip_set) as names:
        yield names
