"""Multi-fidelity search (successive halving over image counts), its store and resume, the
seeding of the first generation, and the shrinking time-step moves."""

from __future__ import annotations

import random
import sqlite3
import statistics

import pytest
from diffusion_fakes import FIDELITIES, LUCKY, FakeEvaluator, FidelityFake, Interrupted

from optograph.tools.diffusion.errors import DiffusionInputError
from optograph.tools.diffusion.fidelity import Ladder, candidate_cost, total_budget
from optograph.tools.diffusion.search import SearchConfig, run_search, uniform_timesteps
from optograph.tools.diffusion.search_space import Schedule, ScheduleSpace
from optograph.tools.diffusion.seeding import resize_timesteps
from optograph.tools.diffusion.store import SearchStore


def config(**kwargs) -> SearchConfig:
    base = dict(steps=4, evaluations=12, population=12, top_k=4, mutants=5, crossovers=3,
                fidelities=FIDELITIES)
    base.update(kwargs)
    return SearchConfig(**base)


def test_most_candidates_stay_on_few_images_and_the_budget_holds(tmp_path):
    evaluator = FidelityFake()
    result = run_search(evaluator, config(), SearchStore(tmp_path / "s.sqlite", {"a": 1}))
    per_level = [sum(1 for _, n in evaluator.scored if n == f) for f in FIDELITIES]
    assert per_level[0] > per_level[1] > per_level[2] >= 1
    spent = sum(n for _, n in evaluator.scored)
    assert spent == result.images <= 12 * FIDELITIES[-1]
    # a candidate reaches a fidelity only through every lower one
    for schedule, count in evaluator.scored:
        index = FIDELITIES.index(count)
        assert index == 0 or (schedule, FIDELITIES[index - 1]) in evaluator.scored
    # far more candidates than 12 evaluations at the top fidelity would have seen
    assert per_level[0] > 24


def test_the_answer_is_never_a_candidate_seen_only_on_the_fewest_images(tmp_path):
    result = run_search(FidelityFake(), config(), SearchStore(tmp_path / "s.sqlite", {"a": 1}),
                        seeds=[LUCKY])
    assert result.best.images == FIDELITIES[-1]
    assert result.best.schedule.timesteps != LUCKY
    lucky = [r for r in result.history if r.schedule.timesteps == LUCKY]
    assert lucky and lucky[0].fid == 0.1  # it was scored, and looked best there


def test_the_store_keeps_every_fidelity_apart(tmp_path):
    store = SearchStore(tmp_path / "s.sqlite", {"a": 1})
    run_search(FidelityFake(), config(), store)
    uniform = Schedule.full(uniform_timesteps(4, 1000))  # the first candidate: promoted to the top
    rows = [e for e in store.evaluations() if e.schedule == uniform]
    assert sorted(e.images for e in rows) == list(FIDELITIES)
    assert len({e.fid for e in rows}) == 3


@pytest.mark.parametrize("die_at", [1, 2, 7, 30])
def test_a_search_killed_between_fidelities_resumes_and_loses_nothing(tmp_path, die_at):
    uninterrupted = FidelityFake()
    reference = run_search(uninterrupted, config(), SearchStore(tmp_path / "r.sqlite", {"a": 1}))
    path = tmp_path / "s.sqlite"
    dying = FidelityFake(die_at=die_at)
    with pytest.raises(Interrupted):
        run_search(dying, config(), SearchStore(path, {"a": 1}))
    # die_at 1 and 2: the first candidate is stored at 16 (and 64) images, not yet at 256
    resumed = FidelityFake()
    result = run_search(resumed, config(), SearchStore(path, {"a": 1}, resume=True))
    assert not set(dying.scored) & set(resumed.scored)  # nothing evaluated twice
    assert len(dying.scored) + len(resumed.scored) == len(uninterrupted.scored)
    assert result.replayed == die_at and result.evaluated == len(resumed.scored)
    assert result.best.schedule == reference.best.schedule and result.best.fid == reference.best.fid
    assert result.images == reference.images


class Batches:
    """An `evaluate_many` as Ray's would be: each batch's results delivered in reverse order
    (the order actors finish in is not the order asked), at the fidelity asked for. With
    `die_after`, the process dies (Interrupted) once that many results were delivered."""

    def __init__(self, evaluator: FidelityFake, die_after: int | None = None) -> None:
        self.evaluator, self.die_after = evaluator, die_after
        self.batches: list[tuple[int, int]] = []  # (images, size)
        self.delivered = 0

    def __call__(self, schedules, done, images=None) -> None:
        self.batches.append((images, len(schedules)))
        scorer = self.evaluator.at_images(images)
        for index in reversed(range(len(schedules))):
            if self.die_after is not None and self.delivered == self.die_after:
                raise Interrupted
            done(index, scorer(schedules[index]))
            self.delivered += 1


def rows(path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT key, images, stage, fid FROM evaluations ORDER BY key, images"
                          ).fetchall()


def test_multi_fidelity_through_evaluate_many_is_the_in_process_search(tmp_path):
    local = run_search(FidelityFake(), config(), SearchStore(tmp_path / "l.sqlite", {"a": 1}))
    batches = Batches(FidelityFake())
    many = run_search(FidelityFake(), config(), SearchStore(tmp_path / "m.sqlite", {"a": 1}),
                      evaluate_many=batches)
    assert (many.best.schedule, many.best.fid, many.best.images) == (
        local.best.schedule, local.best.fid, local.best.images)
    assert [(r.schedule, r.fid, r.images) for r in many.history] == [
        (r.schedule, r.fid, r.images) for r in local.history]  # reported in the batch's order
    assert rows(tmp_path / "m.sqlite") == rows(tmp_path / "l.sqlite")
    assert many.images == local.images and many.evaluated == local.evaluated
    # a rung's candidates go as one batch: generations of 12 at 16 images, fewer above
    assert batches.batches[0] == (FIDELITIES[0], 12)
    assert {images for images, _ in batches.batches} == set(FIDELITIES)


@pytest.mark.parametrize("die_after", [3, 13, 40])
def test_a_batch_killed_midway_keeps_what_arrived_and_resumes_in_process(tmp_path, die_after):
    reference = run_search(FidelityFake(), config(), SearchStore(tmp_path / "r.sqlite", {"a": 1}))
    path = tmp_path / "s.sqlite"
    with pytest.raises(Interrupted):
        run_search(FidelityFake(), config(), SearchStore(path, {"a": 1}),
                   evaluate_many=Batches(FidelityFake(), die_after))
    assert len(rows(path)) == die_after  # every delivered result was stored at once
    resumed = FidelityFake()
    result = run_search(resumed, config(), SearchStore(path, {"a": 1}, resume=True))
    assert result.replayed == die_after and result.evaluated == len(resumed.scored)
    assert (result.best.schedule, result.best.fid) == (reference.best.schedule, reference.best.fid)
    assert rows(path) == rows(tmp_path / "r.sqlite")


def test_an_old_single_fidelity_store_is_migrated_with_its_image_count(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript("""
            CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE evaluations (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE NOT NULL,
                stage TEXT NOT NULL, schedule TEXT NOT NULL, fid REAL NOT NULL, macs REAL NOT NULL,
                seconds REAL NOT NULL, created REAL NOT NULL);
            INSERT INTO meta VALUES ('config', '{"images": 512, "steps": 3}');
            INSERT INTO evaluations VALUES (1, '[[[9,5,1],[[],[],[]]]]', 'timesteps',
                '{"timesteps": [9, 5, 1], "skip_sets": [[], [], []]}', 7.5, 30, 1, 0);
        """)
    store = SearchStore(path, {"images": 512, "steps": 3}, resume=True)
    [row] = store.evaluations()
    assert row.images == 512 and row.fid == 7.5
    key = (((9, 5, 1), ((), (), ())),)
    assert store.lookup(key, 512) == 7.5 and store.lookup(key, 128) is None and store[key] == 7.5
    store.record(key, "timesteps", row.schedule, 9.0, 30, 1, images=128)  # another fidelity
    assert len(store) == 2 and store.lookup(key, 512) == 7.5


@pytest.mark.parametrize("kwargs, field", [
    (dict(fidelities=(64, 16, 256)), "fidelities"),
    (dict(fidelities=(16, 16)), "fidelities"),
    (dict(fidelities=(0, 16)), "fidelities"),
    (dict(image_budget=8), "image_budget"),
    (dict(image_budget=300), "image_budget"),  # below 16 + 64 + 256
])
def test_bad_fidelities_and_budgets_are_refused_naming_the_field(tmp_path, kwargs, field):
    store = SearchStore(tmp_path / "s.sqlite", {"a": 1})
    with pytest.raises(DiffusionInputError, match=f"^{field}: "):
        run_search(FidelityFake(), config(**kwargs), store)
    assert len(store) == 0


def test_budget_and_promotion_rules():
    assert total_budget((128, 512, 2048), 10, None) == 20480
    assert total_budget((128,), 10, 2000) == 2000
    assert candidate_cost((128, 512, 2048)) == 128 + 128 + 128
    ladder = Ladder((16, 64))
    assert ladder.add(0, 5.0)  # the first is the best so far
    assert not ladder.add(0, 6.0) and not ladder.add(0, 7.0)
    assert ladder.add(0, 1.0) and not ladder.add(1, 1.0)  # the top rung promotes no further


class Grids(FakeEvaluator):
    GRIDS = [(999, 749, 499, 249), (999, 666, 333, 1), (900, 600, 300, 0)]

    def known_grids(self, steps):
        return self.GRIDS


def test_the_first_generation_starts_from_the_known_grids_and_the_neighbours(tmp_path):
    evaluator = Grids()
    run_search(evaluator, SearchConfig(steps=4, evaluations=12, population=12, top_k=4,
                                       mutants=5, crossovers=3),
               SearchStore(tmp_path / "s.sqlite", {"a": 1}), seeds=[(800, 500, 200, 10)],
               neighbours=[(950, 500, 50), (990, 800, 600, 400, 200)])
    first = [c.timesteps for c in evaluator.calls[:6]]
    assert first[0] == uniform_timesteps(4, 1000)
    # LLM seeds, then the grids (the trailing one equals uniform: not twice), then neighbours
    assert first[1:] == [(800, 500, 200, 10), (999, 666, 333, 1), (900, 600, 300, 0),
                         (950, 500, 275, 50), (990, 600, 400, 200)]


def test_without_known_grids_seeding_changes_nothing(tmp_path):
    evaluator = Grids()
    run_search(evaluator, SearchConfig(steps=4, evaluations=6, population=6, top_k=2, mutants=2,
                                       crossovers=1, seed_known_grids=False),
               SearchStore(tmp_path / "s.sqlite", {"a": 1}))
    assert not {c.timesteps for c in evaluator.calls} & set(Grids.GRIDS[1:])  # [0]: uniform


def test_resize_keeps_the_ends_and_fills_the_widest_gap():
    assert resize_timesteps((999, 500, 250, 0), 5, 1000) == (999, 750, 500, 250, 0)
    assert resize_timesteps((999, 750, 500, 260, 0), 4, 1000) == (999, 750, 260, 0)


def test_time_step_moves_shrink_as_the_search_converges():
    space = ScheduleSpace(4, 1000, mutation_prob=0.0)
    parent = Schedule.full((800, 600, 400, 200))

    def mean_move(generation: int) -> float:
        space.start_generation(generation, 10)
        rng = random.Random(0)
        moves = []
        for _ in range(300):
            child = space.mutate(parent, rng)
            moves += [abs(a - b) for a, b in zip(child.timesteps, parent.timesteps, strict=True)
                      if a != b]
        return statistics.median(moves)

    early, late = mean_move(0), mean_move(9)
    assert early > 5 * late and late < 30
