"""Baselines in the same protocol as the search (same noise, labels, reference, evaluator):
uniform DDIM (linspace, leading, trailing spacing), DPM-Solver++(2M) with uniform, Karras and
log-SNR spacing, and UniPC, as diffusers builds them."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from operator import methodcaller
from typing import Any

from .banks import NoiseBanks, scored, spread
from .errors import DiffusionInputError
from .sampler import BASELINES, baseline_timesteps
from .search_space import Schedule

BASELINE_METHODS: tuple[str, ...] = tuple(BASELINES)


@dataclass
class Row:
    """One line of a comparison: a method at a number of steps."""

    method: str
    steps: int
    fid: float
    macs: float
    seconds: float
    timesteps: list[int] = field(default_factory=list)
    skip_sets: list[list[str]] = field(default_factory=list)
    error: str | None = None  # why the row failed (its FID is then NaN)
    samples: str | None = None  # a PNG grid of its first samples, when written
    # scored on several noise banks (compare --seeds): each bank's seed and FID; fid is their mean
    seeds: list[int] = field(default_factory=list)
    fids: list[float] = field(default_factory=list)

    @property
    def spread(self) -> float | None:
        """The FID's standard deviation over the banks (None when scored on one)."""
        return spread(self.fids)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"spread": self.spread}


def check_methods(methods: Sequence[str]) -> list[str]:
    unknown = [m for m in methods if m not in BASELINES]
    if unknown:
        raise DiffusionInputError(
            "methods", f"unknown method {unknown[0]!r}; known: {', '.join(BASELINE_METHODS)}")
    return list(methods)


def best_built_in(fids: Mapping[str, float]) -> str | None:
    """The method with the lowest finite FID (a built-in that failed or gave NaN or inf on
    this noise is left out); None when none is finite. The one rule for "the best built-in"
    that every ratio against the built-ins divides by."""
    finite = {method: fid for method, fid in fids.items() if math.isfinite(fid)}
    return min(finite, key=finite.__getitem__) if finite else None


def run_baselines(
    evaluator: Any,
    steps: Sequence[int],
    methods: Sequence[str] | None = None,
    on_row: Callable[[Row], None] | None = None,
    banks: NoiseBanks | None = None,
) -> list[Row]:
    """Every method at every step count, through evaluator.baseline (a ScheduleEvaluator),
    or with `banks` on each of their noise banks (the row's FID is then their mean).
    A method that fails (a scheduler raising on this model) is a row marked with the error,
    never the end of the comparison."""
    rows = []
    for method in check_methods(methods or BASELINE_METHODS):
        for count in steps:
            try:
                result, seeds, fids = scored(evaluator, banks,
                                             methodcaller("baseline", method, count))
                grid = baseline_timesteps(evaluator.model, method, count)
                row = Row(method, count, result.fid, result.macs, result.seconds, grid,
                          seeds=seeds, fids=fids)
            except Exception as error:  # noqa: BLE001 - an optional row: recorded, not fatal
                reason = " ".join(f"{type(error).__name__}: {error}".split())
                row = Row(method, count, math.nan, math.nan, 0.0, error=reason)
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return rows


def searched_row(method: str, schedule: Schedule, fid: float, macs: float, seconds: float) -> Row:
    return Row(method, len(schedule.timesteps), fid, macs, seconds, list(schedule.timesteps),
               [list(s) for s in schedule.skip_sets])
