"""LLM-guided evolution: OptoPrime reads the traced evaluation (the time-step parameter ->
evaluate_schedule -> FID) and its FID feedback, proposes schedules for a few rounds, and its
proposals seed the evolutionary population. `compare_guided` measures it against plain
evolution at the same number of evaluations (evaluator calls)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from optograph.graph.run import Run

from .fidelity import on_images
from .langchain_tools import (
    EvaluateScheduleTool,
    fid_feedback,
    timesteps_parameter,
    traced_evaluation,
)
from .search import Evaluation, SearchConfig, SearchResult, run_search, uniform_timesteps
from .search_space import Schedule, ScheduleSpace, SkipSet
from .seeding import known_grids
from .session import SessionConfig, run_session
from .store import SearchStore

OBJECTIVE = (
    "Choose the diffusion sampling time steps that minimise the FID of the generated images. "
    "Time steps are integers in [0, T-1], strictly descending; sampling starts from pure noise "
    "at the first one. Use the feedback of earlier schedules.")


class CountingEvaluator:
    """Wraps an evaluator: counts the calls that really sample, and never evaluates a schedule
    twice (a repeated proposal is answered from memory)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.num_train_timesteps = inner.num_train_timesteps
        self.units = inner.units
        self.calls = 0  # at any fidelity
        self.memory: dict[Schedule, Evaluation] = {}
        self.parent: CountingEvaluator | None = None  # the full evaluator of a fidelity view

    def step_macs(self, skip_set: SkipSet) -> float:
        return float(self.inner.step_macs(skip_set))

    @property
    def num_images(self) -> int | None:
        return getattr(self.inner, "num_images", None)

    def at_images(self, count: int) -> CountingEvaluator:
        """The inner evaluator on its first `count` images (multi-fidelity), counted here."""
        view = CountingEvaluator(on_images(self.inner, count))
        view.parent = self
        return view

    def known_grids(self, steps: int) -> list[tuple[int, ...]]:
        return known_grids(self.inner, steps)

    def __call__(self, schedule: Schedule) -> Evaluation:
        if schedule not in self.memory:
            self.calls += 1
            if self.parent is not None:
                self.parent.calls += 1
            self.memory[schedule] = self.inner(schedule)
        return self.memory[schedule]


def optoprime_proposals(evaluator: CountingEvaluator, steps: int, rounds: int, llm: Any,
                        store: SearchStore | None = None) -> list[tuple[Schedule, float]]:
    """`rounds` evaluations: the uniform schedule, then OptoPrime's proposal after each FID
    feedback. Each result is stored (stage "llm") as soon as it is known."""
    from optograph.agent.optoprime import OptoPrime

    T = evaluator.num_train_timesteps
    tool = EvaluateScheduleTool(evaluator=evaluator)
    evaluate = traced_evaluation(tool)
    key_space = ScheduleSpace(steps, T)
    results: list[tuple[Schedule, float]] = []
    with Run():
        timesteps = timesteps_parameter(list(uniform_timesteps(steps, T)), T)
        optimizer = OptoPrime([timesteps], llm, objective=OBJECTIVE, memory_size=rounds,
                              on_invalid="skip")
        best: float | None = None
        for round_index in range(rounds):
            output = evaluate(timesteps)
            data = output.data
            if isinstance(data, dict):
                schedule = Schedule.full(data["timesteps"])
                results.append((schedule, float(data["fid"])))
                if store is not None:
                    store.record((key_space.key(schedule),), "llm", schedule, data["fid"],
                                 data["macs"], data["seconds"])
            optimizer.zero_feedback()
            output.backward(fid_feedback(data, best))
            if isinstance(data, dict):
                best = data["fid"] if best is None else min(best, data["fid"])
            if round_index < rounds - 1:
                optimizer.step()
    return results


def llm_guided_search(evaluator: Any, config: SearchConfig, llm: Any, rounds: int,
                      store: SearchStore, on_result: Any = None, validator: Any = None,
                      neighbours: Sequence[Sequence[int]] = ()) -> SearchResult:
    """OptoPrime proposes `rounds` schedules; they seed the first generation of the search.
    The search's `config.evaluations` includes them (they are answered by the store).
    Entry points reach it through session.run_session(..., llm=..., llm_rounds=...)."""
    counting = evaluator if isinstance(evaluator, CountingEvaluator) else CountingEvaluator(evaluator)
    proposals = optoprime_proposals(counting, config.steps, rounds, llm, store)
    seeds = [s.timesteps for s, _ in proposals]
    if config.population < len(seeds) + 1:
        config = replace(config, population=len(seeds) + 1)
    return run_search(counting, config, store, on_result, seeds=seeds, validator=validator,
                      neighbours=neighbours)


@dataclass
class GuidedComparison:
    plain_fid: float
    guided_fid: float
    plain_calls: int
    guided_calls: int
    plain_best: Schedule
    guided_best: Schedule
    llm_fids: list[float]


def compare_guided(evaluator: Any, config: SessionConfig, llm: Any, rounds: int,
                   folder: str | Path) -> GuidedComparison:
    """Plain evolution and LLM-guided evolution: two search sessions, same seed, same number
    of evaluations (folder/plain and folder/guided; both resume)."""
    folder = Path(folder)
    config = replace(config, baselines=False, samples=False)
    plain_eval, guided_eval = CountingEvaluator(evaluator), CountingEvaluator(evaluator)
    plain = run_session(config, folder / "plain", resume=True, evaluator=plain_eval)
    guided = run_session(config, folder / "guided", resume=True, evaluator=guided_eval,
                         llm=llm, llm_rounds=rounds)
    return GuidedComparison(plain["fid"], guided["fid"], plain_eval.calls, guided_eval.calls,
                            _schedule(plain), _schedule(guided), guided["llm_fids"])


def _schedule(result: dict[str, Any]) -> Schedule:
    return Schedule(tuple(result["timesteps"]), tuple(tuple(s) for s in result["skip_sets"]))
