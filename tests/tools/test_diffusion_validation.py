"""Choosing the search's answer on validation noise (tools/diffusion/validation.py)."""

from __future__ import annotations

import pytest
from diffusion_fakes import FakeEvaluator

from optograph.tools.diffusion.errors import DiffusionInputError
from optograph.tools.diffusion.search import SearchConfig, run_search
from optograph.tools.diffusion.search_space import Schedule
from optograph.tools.diffusion.store import SearchStore
from optograph.tools.diffusion.validation import (
    MEAN_RULE,
    VALIDATION_RULE,
    VALIDATION_STAGE,
    validation_count,
)

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
    assert validation_count(requested, evaluations * 512, 512) == expected
    assert validation_count(requested, evaluations * 512, 512, 512) == expected


@pytest.mark.parametrize("requested, evaluations, validation_images, expected", [
    (5, 60, 2048, 5),  # 10,240 of 30,720 images
    (5, 40, 2048, 5),  # exactly half of 20,480 images
    (5, 32, 4096, 2),  # half of 16,384 images pays for 2 (one in eight would allow 4)
    (5, 16, 4096, 1), (5, 60, 16384, 0)])
def test_larger_validations_take_at_most_half_of_the_images(requested, evaluations,
                                                            validation_images, expected):
    budget = evaluations * 512
    count = validation_count(requested, budget, 512, validation_images)
    assert count * validation_images <= budget // 2
    assert count == expected


def test_without_a_validator_nothing_changes(tmp_path):
    evaluator = FakeEvaluator()
    result = run_search(evaluator, config(), SearchStore(tmp_path / "s.sqlite", {"a": 1}))
    assert not result.validation and len(evaluator.calls) == 48


class HalfAgainst(FakeEvaluator):
    """Validation noise that ranks the finalists the other way round: 50 - fid / 2, so the
    mean of the two FIDs (25 + fid / 4) prefers the search's best and this FID alone its worst."""

    def __call__(self, schedule):
        result = FakeEvaluator.__call__(self, schedule)
        return type(result)(50 - result.fid / 2, result.macs, result.seconds)


def test_validation_on_more_images_picks_by_the_validation_fid_alone(tmp_path):
    path = tmp_path / "s.sqlite"
    search, validator = FakeEvaluator(), HalfAgainst()
    result = run_search(search, config(validation_images=2048),
                        SearchStore(path, {"images": 512}), validator=validator)
    assert result.validation_rule == VALIDATION_RULE and len(validator.calls) == 5
    fids = [v.fid for v in result.validation]
    chosen = result.validation[0]
    assert chosen.validation_fid == min(v.validation_fid for v in result.validation)
    assert chosen.fid == max(fids) > min(fids)  # not what the mean would pick
    assert result.best.schedule == chosen.schedule
    # five validations of 2,048 images leave 28 evaluations of 512 from 48 x 512
    assert len(search.calls) == 28 and result.images == 48 * 512
    stored = {(e.stage, e.images) for e in SearchStore(path, {"images": 512}, resume=True).evaluations()}
    assert stored == {("timesteps", 512), (VALIDATION_STAGE, 2048)}
    # resumed: nothing evaluated again, the same answer
    again_validator = HalfAgainst()
    again = run_search(FakeEvaluator(), config(validation_images=2048),
                       SearchStore(path, {"images": 512}, resume=True), validator=again_validator)
    assert not again_validator.calls and again.best == result.best


def test_validation_on_as_many_images_keeps_the_mean(tmp_path):
    for images in (None, 512):  # the default, and the same count given
        result = run_search(FakeEvaluator(), config(validation_images=images),
                            SearchStore(tmp_path / f"{images}.sqlite", {"images": 512}),
                            validator=HalfAgainst())
        assert result.validation_rule == MEAN_RULE
        chosen = result.validation[0]
        assert chosen.mean_fid == min(v.mean_fid for v in result.validation)
        assert chosen.fid == min(v.fid for v in result.validation)


@pytest.mark.parametrize("images", [1, 0, 2.5, True])
def test_validation_images_must_be_a_count(images):
    with pytest.raises(DiffusionInputError, match="validation_images"):
        config(validation_images=images).check()
