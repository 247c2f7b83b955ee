"""The two-stage search of AutoDiffusion on agent/'s evolutionary optimizer: first the time
steps with the full network, then time steps and skip sets together under a MACs budget (the
allowed skip share rising per generation), every result stored as soon as it is known."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple, Protocol

from optograph.agent.evolution import EvolutionaryOptimizer, Stage
from optograph.graph.node import node
from optograph.graph.run import Run

from .errors import DiffusionInputError
from .search_space import Schedule, ScheduleSpace, SkipSet
from .store import SearchStore
from .validation import VALIDATION_STAGE, Validated, distinct_best, validate, validation_count


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
    macs_budget: float | None = None
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

    def check(self) -> None:
        if self.steps < 1:
            raise DiffusionInputError("steps", f"must be at least 1; got {self.steps}")
        if self.evaluations < 1:
            raise DiffusionInputError("evaluations", f"must be at least 1; got {self.evaluations}")
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


@dataclass
class SearchResult:
    best: Result
    evaluated: int  # evaluated by this run
    replayed: int  # answered by the store (a resumed search)
    history: list[Result] = field(default_factory=list)
    validation: list[Validated] = field(default_factory=list)  # best mean FID first


OnResult = Callable[[int, int, Result, bool, float], None]  # index, total, result, cached, seconds
# Evaluates several schedules at once (on Ray actors, say: parallel.py), calling
# done(index, evaluation) as each is known; the search stores each result in `done`.
EvaluateMany = Callable[[Sequence[Schedule], Callable[[int, Evaluation], None]], None]


def uniform_timesteps(steps: int, num_train_timesteps: int) -> tuple[int, ...]:
    """Trailing uniform spacing (T-1 first), descending, unique."""
    points = [round(num_train_timesteps - 1 - i * num_train_timesteps / steps) for i in range(steps)]
    return tuple(sorted({max(0, p) for p in points}, reverse=True))


def check_budget(evaluator: CandidateEvaluator, steps: int, budget: float | None,
                 max_skip_share: float) -> None:
    """A budget below the cheapest schedule the space can reach is refused up front."""
    if budget is None:
        return
    units = evaluator.units
    most = int(math.floor(max_skip_share * len(units) + 1e-9))
    savings = sorted(((evaluator.step_macs(()) - evaluator.step_macs((u,))), u) for u in units)
    cheapest_set = tuple(sorted(u for _, u in savings[len(savings) - most:])) if most else ()
    cheapest = steps * evaluator.step_macs(cheapest_set)
    if budget < cheapest:
        raise DiffusionInputError(
            "macs_budget", f"{budget:.4g} MACs is below the cheapest {steps}-step schedule "
            f"({cheapest:.4g} MACs; one full step costs {evaluator.step_macs(()):.4g})")


def run_search(
    evaluator: CandidateEvaluator,
    config: SearchConfig,
    store: SearchStore,
    on_result: OnResult | None = None,
    seeds: list[tuple[int, ...]] | None = None,
    validator: CandidateEvaluator | None = None,
    evaluate_many: EvaluateMany | None = None,
) -> SearchResult:
    """The two-stage search; `seeds` (time-step tuples, e.g. an LLM's proposals) are the first
    candidates of the first stage after the uniform schedule. With a `validator`, the last
    evaluations re-score the best schedules on its noise (see validation.py)."""
    config.check()
    check_budget(evaluator, config.steps, config.macs_budget, config.max_skip_share)
    T = evaluator.num_train_timesteps
    if config.steps > T:
        raise DiffusionInputError("steps", f"{config.steps} is more than the model's {T} time steps")
    two_stages = config.macs_budget is not None and bool(evaluator.units)
    validations = validation_count(config.validate_top, config.evaluations) if validator else 0
    searched = config.evaluations - validations
    first_evaluations = (
        max(1, round(searched * config.first_stage_share)) if two_stages else searched)
    history: list[Result] = []
    counts = {"evaluated": 0, "replayed": 0}
    last_report = [time.perf_counter()]

    def note(schedule: Schedule, fid: float, stage: str, cached: bool) -> None:
        """Count one result (evaluated now, or answered by the store) and report it."""
        counts["replayed" if cached else "evaluated"] += 1
        result = Result(schedule, fid, space_macs(evaluator, schedule), stage)
        history.append(result)
        if on_result is not None:
            on_result(len(history), config.evaluations, result, cached,
                      time.perf_counter() - last_report[0])
        last_report[0] = time.perf_counter()

    def run_stage(name: str, space: ScheduleSpace, evaluations: int, seed: int,
                  initial: Schedule) -> list[tuple[Schedule, float]]:
        with Run():  # each stage names its own "schedule" parameter
            parameter = node(initial, trainable=True, name="schedule", search_space=space)
        generations = max(1, math.ceil(evaluations / config.population))
        optimizer = EvolutionaryOptimizer(
            [parameter], population=config.population, top_k=config.top_k,
            mutants=config.mutants, mutation_prob=1.0, crossovers=config.crossovers,
            stages=[Stage(generations, {"schedule": space})], seed=seed,
            evaluation_cache=store)
        last_report[0] = time.perf_counter()
        fresh: dict[object, Evaluation] = {}

        def evaluate(candidate: dict[str, object]) -> float:
            schedule = candidate["schedule"]
            assert isinstance(schedule, Schedule)
            result = evaluator(schedule)
            key = (space.key(schedule),)
            store.record(key, name, schedule, result.fid, result.macs, result.seconds)
            fresh[key] = result
            return result.fid

        def evaluate_batch(candidates: list[dict[str, object]]) -> list[float]:
            assert evaluate_many is not None
            schedules = [c["schedule"] for c in candidates]
            fids = [math.nan] * len(schedules)

            def done(index: int, result: Evaluation) -> None:
                schedule = schedules[index]
                assert isinstance(schedule, Schedule)
                key = (space.key(schedule),)
                store.record(key, name, schedule, result.fid, result.macs, result.seconds)
                fresh[key] = result
                fids[index] = result.fid

            evaluate_many(schedules, done)  # type: ignore[arg-type]
            return fids

        def report(candidate: dict[str, object], fid: float) -> None:
            schedule = candidate["schedule"]
            assert isinstance(schedule, Schedule)
            note(schedule, fid, name, (space.key(schedule),) not in fresh)

        before = len(history)
        optimizer.run(evaluate, evaluations, on_result=report,
                      evaluate_batch=evaluate_batch if evaluate_many is not None else None)
        # Candidates the cache answered while the optimizer was being built are scored but
        # never passed to on_result when they already fill the budget: report them here.
        for candidate, fid in optimizer.history[len(history) - before:]:
            report(candidate, fid)
        return [(c["schedule"], s) for c, s in optimizer.history]  # type: ignore[misc]

    def probe_units(timesteps: tuple[int, ...], full_fid: float) -> list[str]:
        """The units, most skippable first: FID lost per MAC saved when each is skipped at
        every step of `timesteps` (stored and resumed like every other evaluation)."""
        space = ScheduleSpace(config.steps, T, units=evaluator.units)
        cost: dict[str, float] = {}
        full_step = evaluator.step_macs(())
        last_report[0] = time.perf_counter()
        for unit in evaluator.units:
            schedule = Schedule(timesteps, tuple((unit,) for _ in timesteps))
            fid, cached = store.stored_or_record(
                (space.key(schedule),), "probe", schedule, partial(evaluator, schedule))
            note(schedule, fid, "probe", cached)
            saved = max(full_step - evaluator.step_macs((unit,)), 1.0)
            lost = fid - full_fid if math.isfinite(fid) else math.inf
            cost[unit] = max(lost, 0.0) / saved
        return sorted(evaluator.units, key=lambda u: cost[u])

    first_space = ScheduleSpace(config.steps, T, mutation_prob=config.mutation_prob,
                                seeds=[tuple(s) for s in seeds or []])
    start = Schedule.full(uniform_timesteps(config.steps, T))
    if len(start.timesteps) != config.steps:
        start = first_space.sample(random.Random(config.seed))
    ranked = sorted(run_stage("timesteps", first_space, first_evaluations, config.seed, start),
                    key=lambda item: item[1])
    if two_stages and len(history) < searched:
        best_timesteps = list(dict.fromkeys(s.timesteps for s, _ in ranked[: config.top_k]))
        preference: list[str] = []
        if config.probe_units and searched - len(history) >= 2 * len(evaluator.units):
            preference = probe_units(ranked[0][0].timesteps, ranked[0][1])
        second_space = ScheduleSpace(
            config.steps, T, units=evaluator.units, step_cost=evaluator.step_macs,
            macs_budget=config.macs_budget, max_skip_share=config.max_skip_share,
            mutation_prob=config.mutation_prob, seeds=best_timesteps,
            unit_preference=preference)
        run_stage("timesteps+skips", second_space, searched - len(history),
                  config.seed + 1, ranked[0][0])
    # Everything stored counts, also results a resumed search no longer proposes (after a
    # change of code, say): nothing stored is lost.
    stored = [Result(e.schedule, e.fid, e.macs, e.stage) for e in store.evaluations()]
    eligible = [r for r in [*history, *stored]
                if r.stage != VALIDATION_STAGE and len(r.schedule.timesteps) == config.steps
                and (config.macs_budget is None or r.macs <= config.macs_budget)]
    if not eligible:
        raise DiffusionInputError("macs_budget", "no evaluated schedule fits the budget; "
                                  "raise the evaluations or the budget")
    best = min(eligible, key=lambda r: r.fid)
    validated: list[Validated] = []
    if validator is not None and validations:
        candidates = distinct_best([(r.schedule, r.fid, r.macs) for r in eligible], validations)
        full_space = ScheduleSpace(config.steps, T, units=evaluator.units)
        validated = validate(candidates, validator, full_space, store,
                             lambda schedule, fid, cached: note(schedule, fid, VALIDATION_STAGE, cached))
        chosen = validated[0]
        best = next(r for r in eligible if r.schedule == chosen.schedule and r.fid == chosen.fid)
    return SearchResult(best, counts["evaluated"], counts["replayed"], history, validated)


def space_macs(evaluator: CandidateEvaluator, schedule: Schedule) -> float:
    return float(sum(evaluator.step_macs(s) for s in schedule.skip_sets))
