"""EvolutionaryOptimizer: search quality against random search, caching, stages, resume."""

from __future__ import annotations

import random
import time
from collections.abc import Hashable
from typing import Any

import pytest

import optograph as og
from optograph.agent.errors import OptimizerError
from optograph.agent.evolution import EvolutionaryOptimizer, Stage
from optograph.graph.search_space import Choice, FloatRange, IntRange


class SortedSubset:
    """K sorted, distinct integers out of 0..n-1 (like the time steps of a diffusion search)."""

    def __init__(self, n: int, k: int) -> None:
        self.n, self.k = n, k
        self.generations_started: list[tuple[int, int]] = []

    def sample(self, rng: random.Random) -> tuple[int, ...]:
        return tuple(sorted(rng.sample(range(self.n), self.k)))

    def mutate(self, value: tuple[int, ...], rng: random.Random) -> tuple[int, ...]:
        items = set(value)  # move one item a little, to a free place
        moved = rng.choice(value)
        free = [i for i in range(max(moved - 3, 0), min(moved + 4, self.n)) if i not in items]
        if not free:
            return value
        items.remove(moved)
        items.add(rng.choice(free))
        return tuple(sorted(items))

    def crossover(self, a: tuple[int, ...], b: tuple[int, ...], rng: random.Random) -> tuple[int, ...]:
        union = sorted(set(a) | set(b))
        return tuple(sorted(rng.sample(union, self.k)))

    def validate(self, value: Any) -> tuple[int, ...]:
        value = tuple(value)
        if len(set(value)) != self.k or not all(0 <= v < self.n for v in value):
            raise ValueError(f"not {self.k} distinct items of 0..{self.n - 1}")
        return tuple(sorted(value))

    def key(self, value: tuple[int, ...]) -> Hashable:
        return tuple(value)

    def start_generation(self, index: int, total: int) -> None:
        self.generations_started.append((index, total))


TARGET = (3, 9, 14, 22, 27, 33, 41, 47)


def subset_loss(values: dict[str, Any]) -> float:
    return float(sum(abs(a - b) for a, b in zip(values["steps"], TARGET, strict=True)))


def numeric_loss(values: dict[str, Any]) -> float:
    return (values["a"] - 37) ** 2 + (values["b"] + 12) ** 2 + 10 * (values["c"] - 2.5) ** 2


def numeric_params() -> list[og.Node]:
    with og.Run():  # a fresh naming scope: the names are exactly a, b, c
        return [
            og.node(0, trainable=True, name="a", search_space=IntRange(-100, 100, 8)),
            og.node(0, trainable=True, name="b", search_space=IntRange(-100, 100, 8)),
            og.node(0.0, trainable=True, name="c", search_space=FloatRange(-10, 10)),
        ]


def random_search(spaces: dict[str, Any], loss: Any, evaluations: int, seed: int) -> float:
    rng = random.Random(seed)
    return min(loss({n: s.sample(rng) for n, s in spaces.items()}) for _ in range(evaluations))


def small_evolution(params: list[og.Node], seed: int, **kw: Any) -> EvolutionaryOptimizer:
    return EvolutionaryOptimizer(params, population=20, top_k=5, mutants=10, crossovers=5, seed=seed, **kw)


@pytest.mark.parametrize("problem", ["numeric", "subset"])
def test_beats_random_search_with_the_same_evaluations(problem: str) -> None:
    evaluations, seeds = 300, range(4)
    evo_total = rnd_total = 0.0
    for seed in seeds:
        if problem == "numeric":
            params, loss = numeric_params(), numeric_loss
        else:
            with og.Run():
                params = [og.node((0, 1, 2, 3, 4, 5, 6, 7), trainable=True, name="steps",
                                  search_space=SortedSubset(50, 8))]
            loss = subset_loss
        opt = small_evolution(params, seed)
        _, best = opt.run(loss, evaluations)
        assert len(opt.history) == evaluations
        evo_total += best
        rnd_total += random_search({p.name: p.search_space for p in params}, loss, evaluations, seed)
    print(f"{problem}: evolution {evo_total / len(seeds):.3g}, random {rnd_total / len(seeds):.3g}")
    assert evo_total < 0.5 * rnd_total


def test_run_sets_parameters_to_the_best_and_maximize_works() -> None:
    x = og.node(0, trainable=True, name="x", search_space=IntRange(0, 30))
    opt = small_evolution([x], seed=3, minimize=False)
    values, score = opt.run(lambda c: -abs(c["x"] - 21), 60)
    assert values == {"x": 21} and score == 0 and x.data == 21


def test_no_candidate_is_proposed_twice_and_small_spaces_end() -> None:
    x = og.node("a", trainable=True, name="x", search_space=Choice(["a", "b", "c"]))
    y = og.node(0, trainable=True, name="y", search_space=IntRange(0, 1))
    opt = EvolutionaryOptimizer([x, y], population=4, top_k=2, mutants=2, crossovers=1)
    seen = []
    opt.run(lambda c: seen.append((c["x"], c["y"])) or 0.0, 100)
    assert len(seen) == len(set(seen)) == 6  # every candidate of the 3x2 space, once


def test_same_seed_same_search_different_seed_different() -> None:
    def trajectory(seed: int) -> list[tuple[dict[str, Any], float]]:
        opt = small_evolution(numeric_params(), seed)
        opt.run(numeric_loss, 80)
        return opt.history

    assert trajectory(5) == trajectory(5)
    assert trajectory(5) != trajectory(6)


def test_replay_over_a_prefilled_cache_evaluates_nothing_twice() -> None:
    cache: dict[Hashable, float] = {}
    calls: list[dict[str, Any]] = []

    def evaluate(c: dict[str, Any]) -> float:
        calls.append(c)
        return numeric_loss(c)

    first = small_evolution(numeric_params(), 2, evaluation_cache=cache)
    with pytest.raises(KeyboardInterrupt):  # the search is killed after 57 evaluations
        first.run(lambda c: evaluate(c) if len(calls) < 57 else (_ for _ in ()).throw(KeyboardInterrupt()), 120)
    assert len(cache) == 57
    replay = small_evolution(numeric_params(), 2, evaluation_cache=cache)
    reported: list[float] = []
    best = replay.run(evaluate, 120, on_result=lambda c, s: reported.append(s))
    assert len(calls) == 120  # 57 before the kill + 63 new ones: none evaluated twice
    assert len({tuple(sorted(c.items())) for c in calls}) == 120
    assert len(reported) == 120
    straight = small_evolution(numeric_params(), 2)
    assert straight.run(numeric_loss, 120) == best
    assert straight.history == replay.history


def test_stages_fix_unsearched_parameters_at_the_best_value_and_call_the_hook() -> None:
    space = SortedSubset(50, 8)
    steps = og.node((0, 1, 2, 3, 4, 5, 6, 7), trainable=True, name="steps", search_space=space)
    scale = og.node(1.0, trainable=True, name="scale", search_space=FloatRange(0.0, 4.0))
    stages = [Stage(3, {"steps": space}), Stage(2, {"scale": FloatRange(0.0, 4.0)})]
    opt = EvolutionaryOptimizer([steps, scale], population=10, top_k=3, mutants=5, crossovers=2,
                                stages=stages)

    def loss(c: dict[str, Any]) -> float:
        return subset_loss(c) + abs(c["scale"] - 3.0)

    opt.run(loss, 1000)
    assert opt.done and len(opt.history) == 50  # 5 generations of 10
    stage1, stage2 = opt.history[:30], opt.history[30:]
    assert {c["scale"] for c, _ in stage1} == {1.0}  # not searched yet: the initial value
    best_steps = min(stage1, key=lambda item: item[1])[0]["steps"]
    assert {c["steps"] for c, _ in stage2} == {best_steps}
    assert opt.best is not None and abs(opt.best[0]["scale"] - 3.0) < 0.5
    assert space.generations_started == [(0, 3), (1, 3), (2, 3)]


def test_state_dict_round_trip_mid_generation_resumes_the_same_search() -> None:
    straight = small_evolution(numeric_params(), 4)
    straight.run(numeric_loss, 70)

    params = numeric_params()
    opt = small_evolution(params, 4)
    for _ in range(33):  # stops inside the second generation
        c = opt.ask()
        assert c is not None
        opt.tell(c, numeric_loss(c))
    pending = opt.ask()
    state = opt.state_dict()
    import json

    restored = small_evolution(numeric_params(), 0)
    restored.load_state_dict(json.loads(json.dumps(state)))
    assert restored.ask() == pending  # the candidate in flight is asked again
    restored.tell(pending, numeric_loss(pending))  # type: ignore[arg-type]
    restored.run(numeric_loss, 70)
    assert restored.history == straight.history


def test_step_reads_the_score_from_feedback() -> None:
    x = og.node(0, trainable=True, name="x", search_space=IntRange(0, 40, 4))
    opt = EvolutionaryOptimizer([x], population=8, top_k=3, mutants=4, crossovers=2, seed=1,
                                generations=6)
    tried = []
    for _ in range(60):
        y = (x - 29) * (x - 29)
        opt.zero_feedback()
        y.backward({"score": y.data, "note": "squared distance to the target"})
        tried.append(x.data)
        opt.step()
        if opt.done:
            break
    assert opt.done and x.data == opt.best[0]["x"] == 29  # type: ignore[index]
    assert tried[0] == 0  # the initial value is scored first
    opt.zero_feedback()
    (x * 1).backward("no number here")
    assert opt.step() == {}  # done: stays at the best


def test_step_without_a_score_is_an_error_and_changes_nothing() -> None:
    x = og.node(0, trainable=True, name="x", search_space=IntRange(0, 40))
    opt = EvolutionaryOptimizer([x], population=4, top_k=2, mutants=1, crossovers=1)
    x.backward(3.0)
    opt.step()
    value = x.data
    opt.zero_feedback()
    x.backward("looks bad")
    with pytest.raises(OptimizerError, match="no score"):
        opt.step()
    assert x.data == value


def test_bad_configuration_is_reported() -> None:
    x = og.node(0, trainable=True, name="x")
    with pytest.raises(OptimizerError, match="searches no parameter"):
        EvolutionaryOptimizer([x])
    y = og.node(0, trainable=True, name="y", search_space=IntRange(0, 3))
    with pytest.raises(OptimizerError, match="'nope', which is not a parameter"):
        EvolutionaryOptimizer([y], stages=[Stage(2, {"nope": IntRange(0, 1)})])
    with pytest.raises(OptimizerError, match="exceed"):
        EvolutionaryOptimizer([y], population=5, mutants=4, crossovers=4)
    opt = EvolutionaryOptimizer([y], population=2, top_k=1, mutants=0, crossovers=0)
    with pytest.raises(OptimizerError, match="not asked"):
        opt.tell({"y": 3}, 1.0)


def test_a_whole_generation_can_be_asked_before_telling_in_any_order() -> None:
    sequential = small_evolution(numeric_params(), 8)
    sequential.run(numeric_loss, 60)

    parallel = small_evolution(numeric_params(), 8)
    while len(parallel.history) < 60:
        batch = []
        while True:
            try:
                candidate = parallel.ask()
            except OptimizerError:  # the generation waits for its results
                break
            if candidate is None:
                break
            batch.append(candidate)
        assert batch and len(batch) <= 20
        for candidate in reversed(batch):  # results come back in another order
            parallel.tell(candidate, numeric_loss(candidate))
    assert parallel.best == sequential.best
    assert sorted(map(repr, parallel.history)) == sorted(map(repr, sequential.history))


def test_a_generation_is_evaluated_through_the_executor_with_the_same_result() -> None:
    import threading

    from optograph.agent.executor import make_executor

    running: list[int] = []
    most = [0]
    lock = threading.Lock()

    def slow_loss(c: dict[str, Any]) -> float:
        with lock:
            running.append(1)
            most[0] = max(most[0], len(running))
        time.sleep(0.005)
        with lock:
            running.pop()
        return numeric_loss(c)

    sequential = small_evolution(numeric_params(), 2)
    best = sequential.run(numeric_loss, 60)
    parallel = small_evolution(numeric_params(), 2)
    assert parallel.run(slow_loss, 60, executor=make_executor("local", 4)) == best
    assert parallel.history == sequential.history and most[0] > 1
