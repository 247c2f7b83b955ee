"""The diffusion search space: a candidate is K sorted, unique time steps (descending, the
first one searched too) and one skip set per step. A skip set is the tuple of skippable
units (resnets, attentions; names from skips.py) left out at that step; it belongs to its
step and moves with it when the time steps are re-sorted.

Unlike the paper's release: a mutation always changes the candidate (a chosen skip set always
changes), and a crossover always yields K distinct steps."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SkipSet = tuple[str, ...]
_TRIES = 50


@dataclass(frozen=True)
class Schedule:
    """timesteps strictly descending; skip_sets[i] is the skip set of timesteps[i]."""

    timesteps: tuple[int, ...]
    skip_sets: tuple[SkipSet, ...]

    @classmethod
    def full(cls, timesteps: Sequence[int]) -> Schedule:
        return cls(tuple(int(t) for t in timesteps), tuple(() for _ in timesteps))

    def to_dict(self) -> dict[str, Any]:
        return {"timesteps": list(self.timesteps), "skip_sets": [list(s) for s in self.skip_sets]}

    @classmethod
    def from_pairs(cls, pairs: Sequence[tuple[int, SkipSet]]) -> Schedule:
        ordered = sorted(pairs, key=lambda pair: -pair[0])
        return cls(tuple(t for t, _ in ordered), tuple(tuple(sorted(s)) for _, s in ordered))

    def pairs(self) -> list[tuple[int, SkipSet]]:
        return list(zip(self.timesteps, self.skip_sets, strict=True))


def additive_step_cost(full_macs: float, unit_macs: Mapping[str, float]) -> Callable[[SkipSet], float]:
    """MACs of one network call with a skip set, when skipping a unit saves its own MACs."""
    def cost(skip_set: SkipSet) -> float:
        return full_macs - sum(unit_macs[u] for u in skip_set)
    return cost


def skipping_steps(steps: int, full_first_step: bool = True) -> int:
    """How many of `steps` may skip units: all, or all but the first of several when the
    first keeps the full network (a skipped unit reuses an earlier step's residual, skips.py,
    and the first step has none)."""
    return steps - 1 if full_first_step and steps > 1 else steps


@dataclass
class ScheduleSpace:
    """Schedules of `steps` time steps out of 0..num_train_timesteps-1.

    units: the skippable units (empty: time steps only, the first stage). step_cost: MACs of
    one call with a skip set. macs_budget: the most MACs a whole schedule may cost (None: no
    limit). max_skip_share: the largest share of units one step may skip; during a search it
    rises from 0 to this value over the generations (`start_generation`), so early generations
    stay close to the full network. mutation_prob: chance that each step (time step, skip set)
    is mutated. seeds: time-step tuples that sampling starts from half of the time (the best
    ones of the first stage, or an LLM's proposals): each is sampled once first, in order.
    unit_preference: the units ranked most skippable first (a probe's result); when given,
    new skips are drawn from the front of this ranking rather than uniformly or by size.
    full_first_step: the first of several steps keeps the full network (a skipped unit reuses
    its residual from an earlier step, skips.py, and the first step has none)."""

    steps: int
    num_train_timesteps: int = 1000
    units: Sequence[str] = ()
    step_cost: Callable[[SkipSet], float] | None = None
    macs_budget: float | None = None
    max_skip_share: float = 0.5
    mutation_prob: float = 0.25
    seeds: list[tuple[int, ...]] = field(default_factory=list)
    unit_preference: Sequence[str] = ()
    full_first_step: bool = False
    # A moved time step goes a normal distance whose scale (a share of the time range)
    # shrinks from move_scale to min_move_scale over the generations; one move in five jumps
    # anywhere, so that the search can still leave a basin.
    move_scale: float = 0.15
    min_move_scale: float = 0.02
    skip_share: float = field(init=False, default=0.0)
    progress: float = field(init=False, default=0.0)
    _seeds_used: int = field(init=False, default=0, repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.steps <= self.num_train_timesteps:
            raise ValueError(f"steps must be in 1..{self.num_train_timesteps}; got {self.steps}")
        self.units = tuple(self.units)
        self.unit_preference = tuple(self.unit_preference)
        if self.unit_preference and sorted(self.unit_preference) != sorted(self.units):
            raise ValueError("unit_preference must rank exactly the units")
        self.skip_share = self.max_skip_share if self.units else 0.0

    # -- costs ------------------------------------------------------------------------------
    def macs(self, schedule: Schedule) -> float:
        if self.step_cost is None:
            return 0.0
        return float(sum(self.step_cost(s) for s in schedule.skip_sets))

    def _max_skips(self) -> int:
        return int(math.floor(self.skip_share * len(self.units) + 1e-9))

    # -- protocol ---------------------------------------------------------------------------
    def start_generation(self, index: int, total: int) -> None:
        """The allowed skip share rises linearly to max_skip_share over the generations, and
        the scale of time-step moves shrinks."""
        self.progress = 0.0 if total <= 1 else min(1.0, index / (total - 1))
        if not self.units:
            return
        fraction = 1.0 if total <= 1 else min(1.0, (index + 1) / total)
        floor = self._needed_skips() / len(self.units)
        self.skip_share = floor + max(0.0, self.max_skip_share - floor) * fraction

    def sample(self, rng: random.Random) -> Schedule:
        for _ in range(_TRIES):
            if self._seeds_used < len(self.seeds):  # every seed once, in order, first
                timesteps = self.seeds[self._seeds_used]
                self._seeds_used += 1
            elif self.seeds and rng.random() < 0.5:
                timesteps = rng.choice(self.seeds)
            else:
                timesteps = tuple(rng.sample(range(self.num_train_timesteps), self.steps))
            skip_sets = [self._random_skip_set(rng) for _ in timesteps]
            pairs = list(zip(timesteps, skip_sets, strict=True))
            repaired = self._repair(Schedule.from_pairs(pairs), rng)
            if repaired is not None:
                return repaired
        return self._repair_or_raise(Schedule.full(sorted(timesteps, reverse=True)), rng)

    def mutate(self, value: Schedule, rng: random.Random) -> Schedule:
        """Each time step and each skip set changes with mutation_prob (at least one of them);
        the result always differs from value."""
        original = self._key_of(value)
        for _ in range(_TRIES):
            times = list(value.timesteps)
            skips = list(value.skip_sets)
            slots = 2 * len(times) if self.units else len(times)  # time steps, then skip sets
            chosen = [i for i in range(slots) if rng.random() < self.mutation_prob]
            if not chosen:
                chosen = [rng.randrange(slots)]
            taken = set(times)
            for index in chosen:
                step, is_skip = divmod(index, 2) if self.units else (index, 0)
                if is_skip:
                    skips[step] = self._changed_skip_set(skips[step], rng)
                elif len(taken) < self.num_train_timesteps:
                    new = self._moved_timestep(times[step], taken, rng)
                    taken.discard(times[step])
                    taken.add(new)
                    times[step] = new
            child = self._repair(Schedule.from_pairs(list(zip(times, skips, strict=True))), rng)
            if child is not None and self._key_of(child) != original:
                return child
        return value  # nothing valid and new was found; the optimizer rejects a seen key

    def crossover(self, a: Schedule, b: Schedule, rng: random.Random) -> Schedule:
        """Position by position from either parent, never repeating a time step; K distinct
        steps always (the union of two K-sets has at least K members)."""
        for _ in range(_TRIES):
            chosen: dict[int, SkipSet] = {}
            for first, second in zip(a.pairs(), b.pairs(), strict=True):
                pick, other = (first, second) if rng.random() < 0.5 else (second, first)
                for t, s in (pick, other):
                    if t not in chosen:
                        chosen[t] = s
                        break
            pool = [(t, s) for t, s in {**dict(a.pairs()), **dict(b.pairs())}.items()
                    if t not in chosen]
            rng.shuffle(pool)
            for t, s in pool[: self.steps - len(chosen)]:
                chosen[t] = s
            child = self._repair(Schedule.from_pairs(list(chosen.items())), rng)
            if child is not None:
                return child
        return a

    def validate(self, value: Any) -> Schedule:
        schedule = coerce_schedule(value, self.steps)
        timesteps = schedule.timesteps
        for t in timesteps:
            if not 0 <= t < self.num_train_timesteps:
                raise ValueError(
                    f"time step {t} is out of range 0..{self.num_train_timesteps - 1}")
        if any(x <= y for x, y in zip(timesteps, timesteps[1:], strict=False)):
            raise ValueError(f"time steps {list(timesteps)} are not strictly descending")
        known = set(self.units)
        for t, skip_set in schedule.pairs():
            unknown = [u for u in skip_set if u not in known]
            if unknown:
                raise ValueError(f"skip set of step {t} names unknown units {unknown}")
            if len(set(skip_set)) != len(skip_set):
                raise ValueError(f"skip set of step {t} repeats a unit")
        if self.macs_budget is not None and self.macs(schedule) > self.macs_budget:
            raise ValueError(
                f"schedule costs {self.macs(schedule):.4g} MACs, over the budget "
                f"{self.macs_budget:.4g}")
        return Schedule(timesteps, tuple(tuple(sorted(s)) for s in schedule.skip_sets))

    def key(self, value: Schedule) -> Hashable:
        return self._key_of(value)

    # -- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _key_of(value: Schedule) -> Hashable:
        return (tuple(value.timesteps), tuple(tuple(sorted(s)) for s in value.skip_sets))

    def _random_skip_set(self, rng: random.Random) -> SkipSet:
        limit = self._max_skips()
        if not self.units or limit == 0:
            return ()
        count = rng.randint(0, limit)
        return tuple(sorted(rng.sample(self._candidates(list(self.units), count), count)))

    def _candidates(self, units: list[str], count: int) -> list[str]:
        """Where new skips are drawn from: all of `units`, or with a preference the most
        skippable of them (one more than needed, so that candidates still differ)."""
        if not self.unit_preference:
            return units
        allowed = set(units)
        ranked = [u for u in self.unit_preference if u in allowed]
        return ranked[: count + 1]

    def _changed_skip_set(self, skip_set: SkipSet, rng: random.Random) -> SkipSet:
        """Toggle one unit: drop one (when at the share limit) or add one; always a change."""
        current = set(skip_set)
        absent = [u for u in self.units if u not in current]
        can_add = absent and len(current) < max(1, self._max_skips())
        if current and (not can_add or rng.random() < 0.5):
            current.discard(rng.choice(sorted(current)))
        elif absent:
            current.add(rng.choice(self._candidates(absent, 1)))
        return tuple(sorted(current))

    def _moved_timestep(self, t: int, taken: set[int], rng: random.Random) -> int:
        """A normal move whose scale shrinks as the search goes on; one in five anywhere."""
        scale = self.move_scale + (self.min_move_scale - self.move_scale) * self.progress
        sigma = max(1.0, scale * self.num_train_timesteps)
        while True:
            if rng.random() < 0.8:
                step = round(rng.gauss(0.0, sigma))
                new = t + (step if step else rng.choice((-1, 1)))
            else:
                new = rng.randrange(self.num_train_timesteps)
            if 0 <= new < self.num_train_timesteps and new not in taken:
                return new

    def _skipping_steps(self) -> int:
        return skipping_steps(self.steps, self.full_first_step)

    def _needed_skips(self, order: Sequence[str] | None = None) -> int:
        """Skips per skipping step that the budget needs when units go in `order` (default:
        the biggest first)."""
        if self.macs_budget is None or self.step_cost is None or not self.units:
            return 0
        full_steps = self.steps - self._skipping_steps()
        per_step = (self.macs_budget - full_steps * self.step_cost(())) / self._skipping_steps()
        skipped: list[str] = []
        for unit in order if order is not None else self._by_saving():
            if self.step_cost(tuple(skipped)) <= per_step:
                break
            skipped.append(unit)
        return len(skipped)

    def _by_saving(self) -> list[str]:
        cost = self.step_cost
        assert cost is not None
        return sorted(self.units, key=lambda u: cost((u,)))  # cheapest call = biggest saving

    def _repair(self, schedule: Schedule, rng: random.Random) -> Schedule | None:
        """Add skips until the budget holds; None when it cannot. New skips come from the
        preference (the most skippable units) when there is one, else from the biggest units;
        when the preferred, smaller units cannot reach the budget, the biggest ones do."""
        if self._skipping_steps() < self.steps and schedule.skip_sets[0]:
            schedule = Schedule(schedule.timesteps, ((), *schedule.skip_sets[1:]))
        if self.macs_budget is None or self.step_cost is None:
            return schedule
        orders = [list(self.unit_preference)] if self.unit_preference else []
        for order in [*orders, self._by_saving()]:
            repaired = self._add_skips(schedule, order, rng)
            if repaired is not None:
                return repaired
        return None

    def _add_skips(self, schedule: Schedule, order: list[str], rng: random.Random) -> Schedule | None:
        assert self.macs_budget is not None
        pairs = [(t, set(s)) for t, s in schedule.pairs()]
        # as many skips per step as this order needs to reach the budget: a preference of
        # small harmless units may need more of them than the biggest-first count
        limit = max(self._max_skips(), self._needed_skips(order), max(len(s) for _, s in pairs))
        first = self.steps - self._skipping_steps()
        for _ in range(len(self.units) * len(pairs) + 1):
            candidate = Schedule.from_pairs([(t, tuple(s)) for t, s in pairs])
            if self.macs(candidate) <= self.macs_budget:
                return candidate
            open_steps = [i for i, (_, s) in enumerate(pairs) if len(s) < limit and i >= first]
            if not open_steps:
                return None
            _, skips = pairs[rng.choice(open_steps)]
            absent = [u for u in order if u not in skips]
            skips.add(absent[0] if rng.random() < 0.5 else rng.choice(self._candidates(absent, 1)))
        return None

    def _repair_or_raise(self, schedule: Schedule, rng: random.Random) -> Schedule:
        repaired = self._repair(schedule, rng)
        if repaired is None:
            raise ValueError(
                f"no {self.steps}-step schedule fits the budget {self.macs_budget} with at most "
                f"{self._max_skips()} skipped units per step")
        return repaired


def coerce_schedule(value: Any, steps: int | None = None) -> Schedule:
    """A Schedule from a Schedule, a dict {"timesteps", "skip_sets"?} or a list of time steps
    (no skips); raises ValueError naming what is wrong."""
    if isinstance(value, Schedule):
        schedule = value
    elif isinstance(value, Mapping):
        if "timesteps" not in value:
            raise ValueError("a schedule needs 'timesteps'")
        timesteps = _int_list(value["timesteps"])
        skips = value.get("skip_sets") or [[] for _ in timesteps]
        if not isinstance(skips, Sequence) or len(skips) != len(timesteps):
            raise ValueError(f"skip_sets must be {len(timesteps)} lists, one per time step")
        schedule = Schedule(tuple(timesteps), tuple(tuple(str(u) for u in s) for s in skips))
    elif isinstance(value, Sequence) and not isinstance(value, str):
        schedule = Schedule.full(_int_list(value))
    else:
        raise ValueError(f"expected a schedule (a list of time steps); got {value!r}")
    if steps is not None and len(schedule.timesteps) != steps:
        raise ValueError(f"expected {steps} time steps; got {len(schedule.timesteps)}")
    return schedule


def _int_list(values: Any) -> list[int]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise ValueError(f"time steps must be a list of integers; got {values!r}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v:
            raise ValueError(f"time step {v!r} is not an integer")
        out.append(int(v))
    return out
