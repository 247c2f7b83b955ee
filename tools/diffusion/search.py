"""The two-stage search of AutoDiffusion on agent/'s evolutionary optimizer: first the time
steps with the full network, then time steps and skip sets together under a MACs budget (the
allowed skip share rising per generation), every result stored as soon as it is known.

Under a MACs budget (an addition to the paper, which keeps K steps), the search also spends
part of the evaluations on schedules of the fewer full-network steps the budget pays for, and
answers with whichever scored better: what a user fixes is the compute, and on a small UNet a
dropped step costs less than units skipped at every step (`exact_steps` keeps the paper's)."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from optograph.agent.evolution import EvolutionaryOptimizer, Stage
from optograph.graph.node import node
from optograph.graph.run import Run

from .errors import DiffusionInputError
from .fidelity import Ladder, candidate_cost, check_fidelities, fidelity_levels, total_budget
from .macs_budget import check_budget, fewer_full_steps, macs_budget_of
from .search_space import Schedule, ScheduleSpace, SkipSet, skipping_steps
from .seeding import known_grids, start_seeds
from .store import SearchStore
from .validation import VALIDATION_STAGE, Validated, distinct_best, validate, validation_count

# The stage of schedules with fewer full-network steps under a MACs budget (exact_steps=False)
FEWER_STEPS_STAGE = "fewer-steps"


class Evaluation(NamedTuple):
    fid: float
    macs: float
    seconds: float


class CandidateEvaluator(Protocol):
    """What the search needs from a model: its time range, its skippable units, the MACs of
    one call with a skip set, and the FID of a schedule (same noise for every candidate)."""

    num_train_timesteps: int
    units: tuple[str, ...]

    def step_macs(self, skip_set: SkipSet) -> float: ...

    def __call__(self, schedule: Schedule) -> Evaluation: ...


@dataclass
class SearchConfig:
    steps: int
    evaluations: int = 100
    macs_budget: float | None = None  # MACs per image of the second stage (skip sets)
    # ... or as a share of the full network's MACs at `steps` (0.8: 80 %)
    macs_share: float | None = None
    population: int = 50
    top_k: int = 10
    mutants: int = 25
    mutation_prob: float = 0.25
    crossovers: int = 10
    seed: int = 0
    first_stage_share: float = 0.5  # of the evaluations, when there is a second stage
    max_skip_share: float = 0.5
    # Before the second stage, score the first stage's best time steps with each unit skipped
    # at every step (one evaluation per unit, when at least twice that many are left); the
    # second stage then prefers units that cost little FID per MAC saved.
    probe_units: bool = True
    # With a validator (the same model and reference, other noise): re-score the best few
    # distinct schedules on it and answer with the lowest mean FID (validation.py). They
    # count among the evaluations, at most one in eight.
    validate_top: int = 5
    # Multi-fidelity (fidelity.py): image counts, strictly increasing, e.g. (128, 512, 2048);
    # None scores every candidate on all of the evaluator's images. The budget is
    # `image_budget` images, or `evaluations` evaluations at the highest fidelity.
    fidelities: tuple[int, ...] | None = None
    image_budget: int | None = None
    # Seed the first generation with the solver's built-in grids at `steps` (seeding.py).
    seed_known_grids: bool = True
    # Under a MACs budget the search also tries the fewer full-network steps the budget pays
    # for (fewer_full_steps) beside `steps` steps with skip sets, and answers with the better:
    # the budget is what the user fixes, and on a small network a dropped step can cost less
    # than skipped units at every step. True: `steps` steps only, as in the paper.
    exact_steps: bool = False

    def check(self) -> None:
        if self.steps < 1:
            raise DiffusionInputError("steps", f"must be at least 1; got {self.steps}")
        if self.evaluations < 1:
            raise DiffusionInputError("evaluations", f"must be at least 1; got {self.evaluations}")
        if self.macs_share is not None and not 0 < self.macs_share <= 1:
            raise DiffusionInputError("macs_share", "must be a share of the full network's MACs "
                                      f"in (0, 1]; got {self.macs_share}")
        if self.macs_share is not None and self.macs_budget is not None:
            raise DiffusionInputError("macs_share", "give a MACs budget or a share, not both")
        if self.mutants + self.crossovers > self.population:
            raise DiffusionInputError(
                "population", f"{self.population} is smaller than mutants + crossovers "
                f"({self.mutants + self.crossovers})")


@dataclass
class Result:
    schedule: Schedule
    fid: float
    macs: float
    stage: str
    images: int = 0  # the images its FID was computed on (its fidelity)


@dataclass
class SearchResult:
    best: Result
    evaluated: int  # evaluated by this run
    replayed: int  # answered by the store (a resumed search)
    history: list[Result] = field(default_factory=list)
    validation: list[Validated] = field(default_factory=list)  # best mean FID first
    images: int = 0  # images spent (evaluated or answered by the store), validation included


# index, total, result, cached, seconds; index and total count evaluations, or with
# fidelities images
OnResult = Callable[[int, int, Result, bool, float], None]
Done = Callable[[int, Evaluation], None]


class EvaluateMany(Protocol):
    """Evaluates several schedules at once (on Ray actors, say: parallel.py), calling
    done(index, evaluation) as each is known; the search stores each result in `done`. With
    fidelities, `images` is the fidelity: the evaluator on the first `images` images."""

    def __call__(self, schedules: Sequence[Schedule], done: Done, images: int | None = None
                 ) -> None: ...


def uniform_timesteps(steps: int, num_train_timesteps: int) -> tuple[int, ...]:
    """Trailing uniform spacing (T-1 first), descending, unique."""
    points = [round(num_train_timesteps - 1 - i * num_train_timesteps / steps) for i in range(steps)]
    return tuple(sorted({max(0, p) for p in points}, reverse=True))


def run_search(
    evaluator: CandidateEvaluator,
    config: SearchConfig,
    store: SearchStore,
    on_result: OnResult | None = None,
    seeds: list[tuple[int, ...]] | None = None,
    validator: CandidateEvaluator | None = None,
    neighbours: Sequence[Sequence[int]] = (),
    evaluate_many: EvaluateMany | None = None,
) -> SearchResult:
    """The two-stage search; `seeds` (time-step tuples, e.g. an LLM's proposals) are the first
    candidates of the first stage after the uniform schedule, then the solver's built-in grids
    (config.seed_known_grids) and `neighbours` (the best schedules of searches at other step
    counts, resized to config.steps). With a `validator`, the last evaluations re-score the
    best schedules on its noise (see validation.py). With config.fidelities, candidates are
    scored by successive halving over image counts (fidelity.py). Under a MACs budget that
    pays for fewer full-network steps, half of what the first stage leaves goes to schedules
    of that many steps (seeded with the first stage's best, resized), the rest to skip sets.

    Each generation is scored as one batch per fidelity: its candidates at the lowest, then
    the promoted ones at the next, and so on; a batch goes to `evaluate_many` when given (Ray
    actors), else to the evaluator one at a time. Results are stored as they arrive and
    reported in the batch's order, so both paths give the same search."""
    config.check()
    fidelities = check_fidelities(config.fidelities)
    macs_budget = macs_budget_of(config, evaluator)
    check_budget(evaluator, config.steps, macs_budget, config.max_skip_share,
                 "macs_budget" if config.macs_share is None else "macs_share")
    T = evaluator.num_train_timesteps
    if config.steps > T:
        raise DiffusionInputError("steps", f"{config.steps} is more than the model's {T} time steps")
    levels = fidelity_levels(evaluator, fidelities, store)
    images = tuple(n for n, _ in levels)
    budget = total_budget(images, config.evaluations, config.image_budget)
    two_stages = macs_budget is not None and bool(evaluator.units)
    validations = validation_count(config.validate_top, budget // images[-1]) if validator else 0
    searched = budget - validations * images[-1]
    first_budget = (max(1, round(searched * config.first_stage_share / images[-1])) * images[-1]
                    if two_stages else searched)
    history: list[Result] = []
    counts = {"evaluated": 0, "replayed": 0, "images": 0}
    last_report = [time.perf_counter()]
    total = config.evaluations if fidelities is None else budget

    def note(schedule: Schedule, fid: float, stage: str, cached: bool, count: int) -> None:
        """Count one result (evaluated now, or answered by the store) and report it."""
        counts["replayed" if cached else "evaluated"] += 1
        counts["images"] += count
        result = Result(schedule, fid, space_macs(evaluator, schedule), stage, count)
        history.append(result)
        if on_result is not None:
            index = len(history) if fidelities is None else counts["images"]
            on_result(index, total, result, cached, time.perf_counter() - last_report[0])
        last_report[0] = time.perf_counter()

    def evaluate_level(level: int, schedules: Sequence[Schedule], done: Done) -> None:
        count, scorer = levels[level]
        if evaluate_many is None:
            for index, schedule in enumerate(schedules):
                done(index, scorer(schedule))
        elif fidelities is None:
            evaluate_many(schedules, done)
        else:
            evaluate_many(schedules, done, images=count)

    def score(stage: str, space: ScheduleSpace, schedules: Sequence[Schedule], level: int
              ) -> list[float]:
        """The FIDs of `schedules` at fidelity `level`: stored ones from the store, the others
        evaluated as one batch, each stored the moment it is known; reported in order."""
        count = images[level]
        keys = [(space.key(s),) for s in schedules]
        fids = [store.lookup(key, count) for key in keys]
        cached = [fid is not None for fid in fids]
        missing = [i for i, fid in enumerate(fids) if fid is None]
        reported = [0]

        def flush() -> None:  # the results known so far, in the batch's order
            while reported[0] < len(fids) and fids[reported[0]] is not None:
                i = reported[0]
                note(schedules[i], fids[i], stage, cached[i], count)  # type: ignore[arg-type]
                reported[0] += 1

        def done(index: int, result: Evaluation) -> None:
            i = missing[index]
            store.record(keys[i], stage, schedules[i], result.fid, result.macs, result.seconds,
                         count)
            fids[i] = result.fid
            flush()

        flush()
        if missing:
            evaluate_level(level, [schedules[i] for i in missing], done)
        return [float(fid) for fid in fids]  # type: ignore[arg-type]

    def run_stage(name: str, space: ScheduleSpace, stage_budget: int, seed: int,
                  initial: Schedule) -> list[tuple[Schedule, float]]:
        """Candidates until `stage_budget` images are spent; each scored at the lowest
        fidelity (the evolution's score) and promoted up the ladder while it ranks well and
        the images left still cover the lowest fidelity of the candidates to come."""
        with Run():  # each stage names its own "schedule" parameter
            parameter = node(initial, trainable=True, name="schedule", search_space=space)
        candidates = max(1, stage_budget // candidate_cost(images))
        optimizer = EvolutionaryOptimizer(
            [parameter], population=config.population, top_k=config.top_k,
            mutants=config.mutants, mutation_prob=1.0, crossovers=config.crossovers,
            stages=[Stage(max(1, math.ceil(candidates / config.population)), {"schedule": space})],
            seed=seed)
        last_report[0] = time.perf_counter()
        ladder = Ladder(images)
        end = counts["images"] + stage_budget

        def evaluate_batch(batch: list[dict[str, object]]) -> list[float]:
            schedules = [c["schedule"] for c in batch]
            assert all(isinstance(s, Schedule) for s in schedules)
            first = score(name, space, schedules, 0)  # type: ignore[arg-type]
            to_come = max(0, candidates - len(optimizer.history) - len(batch)) * images[0]
            rung, fids = list(range(len(batch))), first
            for level in range(1, len(images)):
                earned = [i for i, fid in zip(rung, fids, strict=True)
                          if ladder.add(level - 1, fid)]
                room = (end - to_come - counts["images"]) // images[level]
                rung = earned[:max(0, room)]
                if not rung:
                    break
                fids = score(name, space, [schedules[i] for i in rung], level)  # type: ignore[misc]
            return first

        optimizer.run(lambda candidate: evaluate_batch([candidate])[0], candidates,
                      evaluate_batch=evaluate_batch)
        return [(c["schedule"], s) for c, s in optimizer.history]  # type: ignore[misc]

    def probe_units(timesteps: tuple[int, ...], full_fid: float) -> list[str]:
        """The units, most skippable first: FID lost per MAC saved when each is skipped at
        every step of `timesteps` after the first (where it reuses its residual, skips.py), at
        the lowest fidelity (one batch, stored and resumed like every other evaluation)."""
        space = ScheduleSpace(config.steps, T, units=evaluator.units)
        full_step = evaluator.step_macs(())
        last_report[0] = time.perf_counter()
        first = len(timesteps) - skipping_steps(len(timesteps))
        probes = [Schedule(timesteps, tuple((unit,) if i >= first else ()
                                            for i in range(len(timesteps))))
                  for unit in evaluator.units]
        cost: dict[str, float] = {}
        for unit, fid in zip(evaluator.units, score("probe", space, probes, 0), strict=True):
            saved = max(full_step - evaluator.step_macs((unit,)), 1.0)
            lost = fid - full_fid if math.isfinite(fid) else math.inf
            cost[unit] = max(lost, 0.0) / saved
        return sorted(evaluator.units, key=lambda u: cost[u])

    first_space = ScheduleSpace(config.steps, T, mutation_prob=config.mutation_prob)
    first_space.seeds = start_seeds(first_space, [*(seeds or []), *(
        known_grids(evaluator, config.steps) if config.seed_known_grids else [])], neighbours)
    start = Schedule.full(uniform_timesteps(config.steps, T))
    if len(start.timesteps) != config.steps:
        start = first_space.sample(random.Random(config.seed))
    ranked = sorted(run_stage("timesteps", first_space, first_budget, config.seed, start),
                    key=lambda item: item[1])
    fewer = (fewer_full_steps(config.steps, macs_budget, evaluator.step_macs(()))
             if two_stages and not config.exact_steps else None)
    if fewer is not None and counts["images"] + 2 * images[-1] <= searched:
        # half of what is left: the K-step time steps found so far seed it, resized
        fewer_space = ScheduleSpace(fewer, T, mutation_prob=config.mutation_prob)
        fewer_space.seeds = start_seeds(
            fewer_space, known_grids(evaluator, fewer) if config.seed_known_grids else [],
            [*(s.timesteps for s, _ in ranked[: config.top_k]), *neighbours])
        fewer_start = (Schedule.full(fewer_space.seeds[0]) if fewer_space.seeds
                       else fewer_space.sample(random.Random(config.seed + 2)))
        left = (searched - counts["images"]) // images[-1]
        run_stage(FEWER_STEPS_STAGE, fewer_space, max(1, left // 2) * images[-1],
                  config.seed + 2, fewer_start)
    if two_stages and counts["images"] + images[0] <= searched:
        best_timesteps = list(dict.fromkeys(s.timesteps for s, _ in ranked[: config.top_k]))
        preference: list[str] = []
        if config.probe_units and searched - counts["images"] >= 2 * len(evaluator.units) * images[0]:
            preference = probe_units(ranked[0][0].timesteps, ranked[0][1])
        second_space = ScheduleSpace(
            config.steps, T, units=evaluator.units, step_cost=evaluator.step_macs,
            macs_budget=macs_budget, max_skip_share=config.max_skip_share,
            mutation_prob=config.mutation_prob, seeds=best_timesteps,
            unit_preference=preference, full_first_step=True)
        leader = highest_fidelity([r for r in history if r.stage == "timesteps"])
        run_stage("timesteps+skips", second_space, searched - counts["images"],
                  config.seed + 1, leader.schedule if leader else ranked[0][0])
    # Everything stored counts, also results a resumed search no longer proposes (after a
    # change of code, say): nothing stored is lost.
    stored = [Result(e.schedule, e.fid, e.macs, e.stage, e.images) for e in store.evaluations()]
    lengths = {config.steps} if fewer is None else {config.steps, fewer}
    eligible = [r for r in [*history, *stored]
                if r.stage != VALIDATION_STAGE and len(r.schedule.timesteps) in lengths
                and (macs_budget is None or r.macs <= macs_budget)]
    best = highest_fidelity(eligible)
    if best is None:
        raise DiffusionInputError("macs_budget", "no evaluated schedule fits the budget; "
                                  "raise the evaluations or the budget")
    if len(images) > 1 and best.images <= images[0]:
        raise DiffusionInputError("image_budget", "no candidate within the MACs budget was "
                                  "scored above the lowest fidelity; raise the budget")
    top = [r for r in eligible if r.images == best.images]
    validated: list[Validated] = []
    if validator is not None and validations:
        candidates = distinct_best([(r.schedule, r.fid, r.macs) for r in top], validations)
        full_space = ScheduleSpace(config.steps, T, units=evaluator.units)
        validated = validate(
            candidates, validator, full_space, store,
            lambda schedule, fid, cached: note(schedule, fid, VALIDATION_STAGE, cached, images[-1]),
            images=images[-1] if fidelities is not None else None)
        chosen = validated[0]
        best = next(r for r in top if r.schedule == chosen.schedule and r.fid == chosen.fid)
    return SearchResult(best, counts["evaluated"], counts["replayed"], history, validated,
                        counts["images"])


def highest_fidelity(results: Sequence[Result]) -> Result | None:
    """The lowest-FID result among those on the most images (None when there are none)."""
    if not results:
        return None
    most = max(r.images for r in results)
    return min((r for r in results if r.images == most), key=lambda r: r.fid)


def space_macs(evaluator: CandidateEvaluator, schedule: Schedule) -> float:
    return float(sum(evaluator.step_macs(s) for s in schedule.skip_sets))
