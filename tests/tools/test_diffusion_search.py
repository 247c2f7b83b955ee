"""The schedule search space (properties with hypothesis) and the two-stage search."""

from __future__ import annotations

import random
import re

import pytest
from diffusion_fakes import FULL_MACS, UNITS, FakeEvaluator
from hypothesis import given, settings
from hypothesis import strategies as st

from optograph.tools.diffusion.errors import DiffusionInputError
from optograph.tools.diffusion.macs_budget import fewer_full_steps
from optograph.tools.diffusion.search import SearchConfig, run_search, uniform_timesteps
from optograph.tools.diffusion.search_space import (
    Schedule,
    ScheduleSpace,
    additive_step_cost,
    coerce_schedule,
)
from optograph.tools.diffusion.seeding import resize_timesteps
from optograph.tools.diffusion.store import SearchStore

COST = additive_step_cost(200.0, {u: 10.0 * (i + 1) for i, u in enumerate(UNITS)})


def skip_space(steps: int = 4, budget: float | None = None) -> ScheduleSpace:
    return ScheduleSpace(steps, 1000, units=UNITS, step_cost=COST, macs_budget=budget)


schedules = st.integers(2, 8).flatmap(
    lambda k: st.tuples(
        st.lists(st.integers(0, 999), min_size=k, max_size=k, unique=True),
        st.lists(st.lists(st.sampled_from(UNITS), max_size=2, unique=True), min_size=k, max_size=k),
    ))


def make(data: tuple[list[int], list[list[str]]]) -> Schedule:
    times, skips = data
    return Schedule.from_pairs([(t, tuple(s)) for t, s in zip(times, skips, strict=True)])


@settings(max_examples=150, deadline=None)
@given(schedules, st.integers(0, 10_000))
def test_mutation_always_changes_the_candidate_and_keeps_it_valid(data, seed):
    parent = make(data)
    space = skip_space(len(parent.timesteps))
    child = space.mutate(parent, random.Random(seed))
    assert space.key(child) != space.key(parent)
    assert space.validate(child) == child


@settings(max_examples=100, deadline=None)
@given(schedules, st.integers(0, 10_000))
def test_a_chosen_skip_set_always_changes(data, seed):
    parent = make(data)
    space = skip_space(len(parent.timesteps))
    space.mutation_prob = 0.0  # only the forced single change; find one that hits a skip set
    rng = random.Random(seed)
    for _ in range(20):
        child = space.mutate(parent, rng)
        if child.timesteps == parent.timesteps:
            assert child.skip_sets != parent.skip_sets
            return


@settings(max_examples=150, deadline=None)
@given(schedules, schedules, st.integers(0, 10_000))
def test_crossover_never_yields_duplicates_or_shorter_schedules(a, b, seed):
    k = min(len(a[0]), len(b[0]))
    first = make((a[0][:k], a[1][:k]))
    second = make((b[0][:k], b[1][:k]))
    space = skip_space(k)
    child = space.crossover(first, second, random.Random(seed))
    assert len(child.timesteps) == k == len(set(child.timesteps)) == len(child.skip_sets)
    assert list(child.timesteps) == sorted(child.timesteps, reverse=True)
    parents = {**dict(first.pairs()), **dict(second.pairs())}
    assert set(child.timesteps) <= set(parents)  # every step comes from a parent ...
    both = set(first.timesteps) & set(second.timesteps)
    for t, skips in child.pairs():  # ... with its own skip set
        assert skips in ({first.pairs()[first.timesteps.index(t)][1],
                          second.pairs()[second.timesteps.index(t)][1]} if t in both
                         else {parents[t]})


def test_skip_sets_move_with_their_step_when_resorted():
    space = skip_space(3)
    space.mutation_prob = 0.0  # exactly one change per mutation
    parent = Schedule.from_pairs([(900, ()), (500, ("mid.resnet.0",)), (100, ())])
    moved = 0
    for seed in range(60):
        child = space.mutate(parent, random.Random(seed))
        if child.timesteps == parent.timesteps:
            continue
        kept = dict(parent.pairs())
        for t, skips in child.pairs():
            if t in kept:
                assert skips == kept[t]
        assert sorted(child.skip_sets) == sorted(parent.skip_sets)
        moved += child.skip_sets != parent.skip_sets
    assert moved  # some move re-sorted the steps and the skip set went along


def test_budget_is_respected_by_sample_mutate_crossover():
    budget = 4 * 160.0
    space = skip_space(4, budget)
    rng = random.Random(0)
    population = [space.sample(rng) for _ in range(30)]
    population += [space.mutate(p, rng) for p in population]
    population += [space.crossover(a, b, rng) for a, b in zip(population, population[1:], strict=False)]
    assert all(space.macs(p) <= budget for p in population)


def test_skip_share_rises_over_generations():
    space = skip_space(4)
    space.start_generation(0, 5)
    low = space.skip_share
    space.start_generation(4, 5)
    assert low < space.skip_share == space.max_skip_share


@pytest.mark.parametrize("value, message", [
    ([900, 1000, 3, 1], "out of range"),
    ([300, 900, 20, 1], "strictly descending"),
    ([900, 900, 20, 1], "strictly descending"),
    ([900, 20, 1], "expected 4 time steps"),
    ({"timesteps": [900, 600, 300, 1], "skip_sets": [["nope"], [], [], []]}, "unknown units"),
])
def test_validate_names_what_is_wrong(value, message):
    with pytest.raises(ValueError, match=message):
        skip_space(4).validate(value)


def test_first_step_is_searched_too():
    space = ScheduleSpace(4, 1000)
    rng = random.Random(1)
    firsts = {space.sample(rng).timesteps[0] for _ in range(40)}
    assert len(firsts) > 5 and 999 not in firsts or len(firsts) > 5


def test_coerce_accepts_lists_and_dicts():
    assert coerce_schedule([9, 5, 1]).skip_sets == ((), (), ())
    assert coerce_schedule({"timesteps": [9, 1], "skip_sets": [["a"], []]}).skip_sets == (("a",), ())


def config(**kwargs):
    base = dict(steps=4, evaluations=60, population=12, top_k=4, mutants=5, crossovers=3)
    base.update(kwargs)
    return SearchConfig(**base)


def test_search_beats_uniform_and_never_evaluates_twice(tmp_path):
    evaluator = FakeEvaluator()
    store = SearchStore(tmp_path / "s.sqlite", {"a": 1})
    result = run_search(evaluator, config(), store)
    uniform = evaluator(Schedule.full(uniform_timesteps(4, 1000))).fid
    assert result.best.fid < uniform / 2
    keys = [c.timesteps + tuple(c.skip_sets) for c in evaluator.calls[:-1]]
    assert len(keys) == len(set(keys)) == 60 == len(store)


def test_second_stage_meets_the_budget_with_skips(tmp_path):
    evaluator = FakeEvaluator()
    budget = 4 * 170.0
    store = SearchStore(tmp_path / "s.sqlite", {"a": 1})
    result = run_search(evaluator, config(macs_budget=budget, evaluations=80), store)
    assert result.best.macs <= budget and result.best.stage in ("probe", "timesteps+skips")
    assert any(s for s in result.best.schedule.skip_sets)
    assert {r.stage for r in result.history} == {"timesteps", "fewer-steps", "probe",
                                                 "timesteps+skips"}


def test_a_macs_budget_may_drop_a_whole_step_when_that_costs_less(tmp_path):
    # 3.4 full steps' worth of MACs; here a missing step costs less FID than skipped units
    evaluator = HarmfulUnits(missing_step_fid=0.5)
    budget = 4 * 170.0
    result = run_search(evaluator, config(macs_budget=budget, evaluations=60),
                        SearchStore(tmp_path / "s.sqlite", {"a": 1}))
    assert result.best.stage == "fewer-steps"
    assert len(result.best.schedule.timesteps) == 3 and not any(result.best.schedule.skip_sets)
    assert result.best.macs == 3 * FULL_MACS <= budget
    # the fewer-steps stage starts from the best full-network time steps found at 4 steps
    first = [r for r in result.history if r.stage == "timesteps"]
    fewer = [r for r in result.history if r.stage == "fewer-steps"]
    best_four = min(first, key=lambda r: r.fid).schedule.timesteps
    assert fewer[0].schedule.timesteps == resize_timesteps(best_four, 3, 1000)
    assert all(len(r.schedule.timesteps) == 3 for r in fewer)


def test_a_macs_budget_keeps_the_steps_when_skips_cost_less(tmp_path):
    result = run_search(FakeEvaluator(), config(macs_budget=4 * 170.0, evaluations=60),
                        SearchStore(tmp_path / "s.sqlite", {"a": 1}))
    assert "fewer-steps" in {r.stage for r in result.history}
    assert len(result.best.schedule.timesteps) == 4 and result.best.macs <= 4 * 170.0


def test_exact_steps_never_drops_a_step(tmp_path):
    evaluator = HarmfulUnits(missing_step_fid=0.5)
    result = run_search(evaluator, config(macs_budget=4 * 170.0, evaluations=60,
                                          exact_steps=True),
                        SearchStore(tmp_path / "s.sqlite", {"a": 1}))
    assert "fewer-steps" not in {r.stage for r in result.history}
    assert {len(c.timesteps) for c in evaluator.calls} == {4}
    assert len(result.best.schedule.timesteps) == 4 and any(result.best.schedule.skip_sets)
    assert result.best.macs <= 4 * 170.0


@pytest.mark.parametrize("steps, budget, fewer", [
    (4, 680.0, 3), (4, 800.0, None), (4, 599.9, 2), (4, 199.0, None), (1, 150.0, None),
    (4, None, None),
])
def test_fewer_full_steps_is_the_most_the_budget_pays_for(steps, budget, fewer):
    assert fewer_full_steps(steps, budget, 200.0) == fewer


class HarmfulUnits(FakeEvaluator):
    """Only two units can be skipped for free; the others ruin the samples."""

    harmless = ("mid.resnet.0", "up.1.attn.0")  # 30 + 40 of a 200-MAC step

    def __call__(self, schedule):
        result = super().__call__(schedule)
        ruined = sum(u not in self.harmless for s in schedule.skip_sets for u in s)
        return type(result)(result.fid + 100.0 * ruined, result.macs, result.seconds)


def test_unit_probe_steers_the_second_stage_to_the_harmless_units(tmp_path):
    # the first step runs the full network; 60 MACs to save at each other step: both
    # harmless units are needed
    budget = 200.0 + 3 * 140.0
    evaluator = HarmfulUnits()
    result = run_search(evaluator, config(macs_budget=budget, evaluations=60),
                        SearchStore(tmp_path / "s.sqlite", {"a": 1}))
    probes = [r for r in result.history if r.stage == "probe"]
    first_best = min((r for r in result.history if r.stage == "timesteps"), key=lambda r: r.fid)
    # one probe per unit, on the first stage's best time steps, skipping it at every step
    # after the first (where there is a residual to reuse)
    assert sorted(p.schedule.skip_sets[1][0] for p in probes) == sorted(UNITS)
    assert all(p.schedule.timesteps == first_best.schedule.timesteps for p in probes)
    assert all(p.schedule.skip_sets[0] == () and len(set(p.schedule.skip_sets[1:])) == 1
               for p in probes)
    assert result.best.macs <= budget
    assert {u for s in result.best.schedule.skip_sets for u in s} <= set(HarmfulUnits.harmless)
    assert result.best.fid < 100.0


def test_without_a_probe_the_budget_repair_takes_the_biggest_units(tmp_path):
    # the comparison point of the test above: the same search without the probe
    result = run_search(HarmfulUnits(), config(macs_budget=200.0 + 3 * 140.0, evaluations=60,
                                               probe_units=False),
                        SearchStore(tmp_path / "s.sqlite", {"a": 1}))
    assert "probe" not in {r.stage for r in result.history}
    assert result.best.fid >= 100.0


@settings(max_examples=100, deadline=None)
@given(schedules, st.integers(0, 10_000))
def test_with_a_full_first_step_every_candidate_skips_nothing_there(data, seed):
    parent = make(data)
    steps = len(parent.timesteps)
    space = ScheduleSpace(steps, 1000, units=UNITS, step_cost=COST,
                          macs_budget=200.0 + (steps - 1) * 150.0, full_first_step=True)
    rng = random.Random(seed)
    for child in (space.sample(rng), space.mutate(parent, rng),
                  space.crossover(parent, space.sample(rng), rng)):
        assert child.skip_sets[0] == ()
        assert space.macs(child) <= space.macs_budget


def test_a_preferred_order_of_small_units_repairs_without_the_big_ones():
    # 4 steps, the first full; each other step must save 60 MACs. The preference ranks the
    # three small units first (10 + 20 + 30 = 60): the repair takes all three rather than
    # falling back to the biggest unit (50), even where the share allows only two per step.
    preference = [*UNITS[:3], *UNITS[3:]]
    space = ScheduleSpace(4, 1000, units=UNITS, step_cost=COST, macs_budget=200.0 + 3 * 140.0,
                          max_skip_share=0.4, unit_preference=preference, full_first_step=True)
    for seed in range(20):
        child = space.sample(random.Random(seed))
        assert space.macs(child) <= space.macs_budget
        assert UNITS[-1] not in {u for s in child.skip_sets for u in s}  # the biggest


def test_budget_below_the_cheapest_schedule_is_refused(tmp_path):
    store = SearchStore(tmp_path / "s.sqlite", {"a": 1})
    with pytest.raises(DiffusionInputError, match="^macs_budget"):
        run_search(FakeEvaluator(), config(macs_budget=10.0), store)


class Interrupted(Exception):
    pass


@pytest.mark.parametrize("stop_after, evaluations, population", [
    (1, 60, 12), (17, 60, 12), (32, 60, 12), (45, 60, 12),  # 32: inside the unit probe
    (5, 8, 6),  # the whole first stage is answered by the store as the optimizer starts
])
def test_killed_search_resumes_without_evaluating_anything_twice(
        tmp_path, stop_after, evaluations, population):
    cfg = config(macs_budget=4 * 170.0, evaluations=evaluations, population=population,
                 top_k=3, mutants=2, crossovers=2)
    uninterrupted = FakeEvaluator()
    reference = run_search(uninterrupted, cfg, SearchStore(tmp_path / "ref.sqlite", {"a": 1}))

    class Dying(FakeEvaluator):
        def __call__(self, schedule):
            if len(self.calls) == stop_after:
                raise Interrupted
            return super().__call__(schedule)

    path = tmp_path / "s.sqlite"
    dying = Dying()
    with pytest.raises(Interrupted):
        run_search(dying, cfg, SearchStore(path, {"a": 1}))
    assert len(SearchStore(path, {"a": 1}, resume=True)) == stop_after
    resumed = FakeEvaluator()
    result = run_search(resumed, cfg, SearchStore(path, {"a": 1}, resume=True))
    before = {(c.timesteps, c.skip_sets) for c in dying.calls}
    after = [(c.timesteps, c.skip_sets) for c in resumed.calls]
    assert not before & set(after) and len(after) == len(set(after))
    # exactly what the uninterrupted search evaluates (a second-stage candidate that repeats a
    # probe is answered by the store in both)
    assert len(before) + len(after) == len(uninterrupted.calls) <= evaluations
    assert result.replayed == stop_after + reference.replayed
    assert result.evaluated + result.replayed == evaluations
    assert result.best.schedule == reference.best.schedule and result.best.fid == reference.best.fid


def test_a_macs_share_is_the_budget_as_a_share_of_the_full_network(tmp_path):
    config = SearchConfig(steps=4, evaluations=24, population=8, top_k=3, mutants=3,
                          crossovers=2, macs_share=0.8)
    result = run_search(FakeEvaluator(), config, SearchStore(tmp_path / "s.sqlite", {}))
    full = 4 * FakeEvaluator().step_macs(())
    assert result.best.macs <= 0.8 * full
    assert any(r.stage == "timesteps+skips" for r in result.history)


@pytest.mark.parametrize("changes, message", [
    ({"macs_share": 0.05}, "below the cheapest"),  # the skip sets cannot reach it
    ({"macs_share": 1.5}, "in (0, 1]"),
    ({"macs_share": 0.8, "macs_budget": 600.0}, "not both"),
])
def test_a_bad_macs_share_is_refused_naming_the_field(tmp_path, changes, message):
    store = SearchStore(tmp_path / "s.sqlite", {})
    with pytest.raises(DiffusionInputError, match="^macs_share: .*" + re.escape(message)):
        run_search(FakeEvaluator(), SearchConfig(steps=4, evaluations=8, population=8, top_k=3,
                                                 mutants=3, crossovers=2, **changes), store)
    assert len(store) == 0
