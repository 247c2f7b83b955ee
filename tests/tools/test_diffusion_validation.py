"""Choosing the search's answer on validation noise (tools/diffusion/validation.py)."""

from __future__ import annotations

import pytest
from diffusion_fakes import FakeEvaluator

from optograph.tools.diffusion.search import SearchConfig, run_search
from optograph.tools.diffusion.search_space import Schedule
from optograph.tools.diffusion.store import SearchStore
from optograph.tools.diffusion.validation import VALIDATION_STAGE, validation_count

LUCKY = (990, 980, 970, 960)  # a poor schedule (fake FID about 200)...


class LuckyNoise(FakeEvaluator):
    """...that on the search's noise (lucky=True) scores better than anything else; other
    noise does not favour it (the winner's curse of a fixed noise bank)."""

    def __init__(self, lucky: bool) -> None:
        super().__init__()
        self.lucky = lucky

    def __call__(self, schedule: Schedule):
        result = super().__call__(schedule)
        if self.lucky and schedule.timesteps == LUCKY:
            return type(result)(0.5, result.macs, result.seconds)
        return result


def config(**kwargs) -> SearchConfig:
    base = dict(steps=4, evaluations=48, population=12, top_k=4, mutants=5, crossovers=3)
    base.update(kwargs)
    return SearchConfig(**base)


def test_validation_picks_a_schedule_that_holds_on_fresh_noise(tmp_path):
    search_noise, validation_noise = LuckyNoise(lucky=True), LuckyNoise(lucky=False)
    plain = run_search(LuckyNoise(lucky=True), config(),
                       SearchStore(tmp_path / "plain.sqlite", {"a": 1}), seeds=[LUCKY])
    assert plain.best.schedule.timesteps == LUCKY  # without validation the lucky one wins

    result = run_search(search_noise, config(), SearchStore(tmp_path / "v.sqlite", {"a": 1}),
                        seeds=[LUCKY], validator=validation_noise)
    assert len(result.validation) == 5 == len(validation_noise.calls)
    assert result.best.schedule.timesteps != LUCKY
    chosen = result.validation[0]
    assert chosen.schedule == result.best.schedule and chosen.fid == result.best.fid
    assert chosen.mean_fid == min(v.mean_fid for v in result.validation)
    lucky = next(v for v in result.validation if v.schedule.timesteps == LUCKY)
    assert chosen.validation_fid < lucky.validation_fid
    # the validation evaluations are part of the budget, and are the last ones
    assert len(result.history) == 48 == len(search_noise.calls) + len(validation_noise.calls)
    assert [r.stage for r in result.history[-5:]] == [VALIDATION_STAGE] * 5


class PerfectNoise(FakeEvaluator):
    def __call__(self, schedule):
        self.calls.append(schedule)
        return type(super().__call__(schedule))(0.0, 0.0, 0.0)


def test_validation_scores_are_stored_and_never_taken_for_search_scores(tmp_path):
    path = tmp_path / "s.sqlite"
    search = FakeEvaluator()
    first = run_search(search, config(), SearchStore(path, {"a": 1}), validator=PerfectNoise())
    search_fids = [r.fid for r in first.history if r.stage != VALIDATION_STAGE]
    assert first.best.fid == min(search_fids) > 0  # not a validation score of 0
    # resuming answers everything from the store, validation included, with the same answer
    search_again, validator_again = FakeEvaluator(), PerfectNoise()
    again = run_search(search_again, config(), SearchStore(path, {"a": 1}, resume=True),
                       validator=validator_again)
    assert not search_again.calls and not validator_again.calls
    assert again.best == first.best and again.replayed == 48
    assert [v.validation_fid for v in again.validation] == [0.0] * 5


class Interrupted(Exception):
    pass


def test_a_search_killed_during_validation_resumes_without_evaluating_twice(tmp_path):
    path = tmp_path / "s.sqlite"

    class DyingValidator(FakeEvaluator):
        def __call__(self, schedule):
            if len(self.calls) == 2:
                raise Interrupted
            return super().__call__(schedule)

    dying = DyingValidator()
    with pytest.raises(Interrupted):
        run_search(FakeEvaluator(), config(), SearchStore(path, {"a": 1}), validator=dying)
    validator = FakeEvaluator()
    result = run_search(FakeEvaluator(), config(), SearchStore(path, {"a": 1}, resume=True),
                        validator=validator)
    assert len(validator.calls) == 3 and not set(dying.calls) & set(validator.calls)
    assert len(result.validation) == 5 and result.evaluated == 3


@pytest.mark.parametrize("requested, evaluations, expected", [
    (5, 48, 5), (5, 8, 1), (5, 7, 0), (0, 100, 0), (3, 100, 3)])
def test_validation_takes_at_most_one_in_eight_evaluations(requested, evaluations, expected):
    assert validation_count(requested, evaluations) == expected


def test_without_a_validator_nothing_changes(tmp_path):
    evaluator = FakeEvaluator()
    result = run_search(evaluator, config(), SearchStore(tmp_path / "s.sqlite", {"a": 1}))
    assert not result.validation and len(evaluator.calls) == 48
