"""One schedule scored on several noise banks: the mean FID and its spread.

A FID on a few thousand images moves from one noise bank to the next (at 10 steps on the
shipped model, a schedule's ratio to the best built-in moves by 0.05 to 0.10 between banks of
2,048 images), so a schedule that wins on one bank may only have drawn a lucky one. Scoring
every row of a comparison on the same few banks tells the two apart. A hard bank is hard for
every method (the best built-in's own FID moves by half between banks), so rows are compared
bank by bank (compare.py's ratios), and a row's FID spread says how much one bank tells."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .errors import DiffusionInputError
from .evaluator import ScheduleEvaluator
from .noise import check_seed
from .search import Evaluation


def spread(values: Sequence[float]) -> float | None:
    """The sample standard deviation of one row's values over the banks; None for one bank
    (no spread to speak of) and NaN when a value is NaN."""
    if len(values) < 2:
        return None
    if any(math.isnan(v) for v in values):
        return math.nan
    return statistics.stdev(values)


@dataclass(frozen=True)
class NoiseBanks:
    """The same evaluator (model, reference, solver, image count) on each seed's noise bank;
    on_bank(seed, evaluation) hears each bank's result as it comes (a row on seven banks of
    2,048 images takes minutes on a CPU)."""

    seeds: tuple[int, ...]
    evaluators: tuple[ScheduleEvaluator, ...]
    on_bank: Callable[[int, Evaluation], None] | None = None

    @staticmethod
    def check_seeds(seeds: Sequence[int]) -> None:
        """At least one seed, each a 64-bit unsigned integer (torch's generator seeds) and
        each once (a bank counted twice would weigh twice in the mean)."""
        if not seeds:
            raise DiffusionInputError("seeds", "give at least one seed")
        for seed in seeds:
            check_seed(seed, "seeds")
        if len(set(seeds)) != len(seeds):
            raise DiffusionInputError("seeds", f"each seed once; got {list(seeds)}")

    @classmethod
    def of(cls, evaluator: ScheduleEvaluator, seeds: Sequence[int],
           on_bank: Callable[[int, Evaluation], None] | None = None) -> NoiseBanks:
        cls.check_seeds(seeds)
        return cls(tuple(seeds), tuple(evaluator.with_noise_seed(s) for s in seeds), on_bank)

    def with_solver(self, solver: str) -> NoiseBanks:
        """The same banks scoring with another grid solver (a result file's own)."""
        return replace(self, evaluators=tuple(replace(e, solver=solver) for e in self.evaluators))

    def score(self, evaluate: Callable[[ScheduleEvaluator], Evaluation]
              ) -> tuple[Evaluation, list[float]]:
        """`evaluate` on every bank: an Evaluation with the mean FID (the MACs of the first
        bank, which every bank shares, and the seconds of all) and each bank's FID in order."""
        results = []
        for seed, evaluator in zip(self.seeds, self.evaluators, strict=True):
            results.append(evaluate(evaluator))
            if self.on_bank is not None:
                self.on_bank(seed, results[-1])
        fids = [r.fid for r in results]
        return Evaluation(statistics.fmean(fids), results[0].macs,
                          sum(r.seconds for r in results)), fids


def scored(evaluator: Any, banks: NoiseBanks | None, evaluate: Callable[[Any], Evaluation]
           ) -> tuple[Evaluation, list[int], list[float]]:
    """`evaluate(evaluator)` with no banks (no seeds, no per-bank FIDs); with banks, its mean
    over them, their seeds and each one's FID: the one rule for every row of a comparison."""
    if banks is None:
        return evaluate(evaluator), [], []
    result, fids = banks.score(evaluate)
    return result, list(banks.seeds), fids
