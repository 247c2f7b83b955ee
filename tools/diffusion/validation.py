"""Choosing a search's answer on noise it was not searched on.

Every candidate of a search is scored on one fixed noise bank, so the lowest of a few hundred
scores is biased low: part of its lead is luck with that noise (the winner's curse), and it
does not carry over to fresh noise. The search's best few distinct schedules are therefore
scored again on a second, disjoint noise bank, stored and resumed like every evaluation, and
the answer is the schedule with the lowest mean of its two FIDs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .search_space import Schedule, ScheduleSpace
from .store import SearchStore

# Added to the search's noise seed to draw the validation noise: far from the seeds a user
# picks for fresh-noise checks (--seed 1, 2, ...) and from the proxy reference's offset.
VALIDATION_SEED_OFFSET = 500_009
VALIDATION_STAGE = "validation"


@dataclass(frozen=True)
class Validated:
    schedule: Schedule
    fid: float  # on the search's noise
    validation_fid: float  # on the validation noise
    macs: float

    @property
    def mean_fid(self) -> float:
        return (self.fid + self.validation_fid) / 2


def validation_count(requested: int, evaluations: int) -> int:
    """How many of a search's `evaluations` go to validation: `requested`, but at most one in
    eight, so a small search keeps most of its evaluations for searching."""
    return max(0, min(requested, evaluations // 8))


def distinct_best(results: Sequence[tuple[Schedule, float, float]], count: int
                  ) -> list[tuple[Schedule, float, float]]:
    """The `count` lowest-FID (schedule, fid, macs) entries, one per schedule."""
    chosen: dict[Schedule, tuple[Schedule, float, float]] = {}
    for entry in sorted(results, key=lambda e: e[1]):
        if entry[0] not in chosen:
            chosen[entry[0]] = entry
            if len(chosen) == count:
                break
    return list(chosen.values())


def validate(
    candidates: Sequence[tuple[Schedule, float, float]],
    score: Callable[[Schedule], tuple[float, float, float]],
    space: ScheduleSpace,
    store: SearchStore,
    report: Callable[[Schedule, float, bool], None],
    images: int | None = None,
) -> list[Validated]:
    """Score each (schedule, search fid, macs) with `score` (fid, macs, seconds on the
    validation noise, on `images` images: default the store's), best mean first. A stored
    validation is reused, never recomputed."""
    validated = []
    for schedule, fid, macs in candidates:
        def scored(schedule: Schedule = schedule, macs: float = macs) -> tuple[float, float, float]:
            validation_fid, _, seconds = score(schedule)
            return validation_fid, macs, seconds  # the search's MACs: the same network

        validation_fid, cached = store.stored_or_record(
            (VALIDATION_STAGE, space.key(schedule)), VALIDATION_STAGE, schedule, scored, images)
        report(schedule, validation_fid, cached)
        validated.append(Validated(schedule, fid, validation_fid, macs))
    return sorted(validated, key=lambda v: v.mean_fid)
