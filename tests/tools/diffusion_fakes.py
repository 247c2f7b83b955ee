"""A cheap stand-in for a model's candidate evaluator: the 'FID' is a known function of the
schedule, so search behaviour can be tested without sampling."""

from __future__ import annotations

import random

from optograph.tools.diffusion.search import Evaluation
from optograph.tools.diffusion.search_space import Schedule, SkipSet

UNITS = ("down.0.resnet.0", "down.1.attn.0", "mid.resnet.0", "up.1.attn.0", "up.2.resnet.1")
UNIT_MACS = {u: 10.0 * (i + 1) for i, u in enumerate(UNITS)}
FULL_MACS = 200.0


class FakeEvaluator:
    num_train_timesteps = 1000
    units = UNITS

    def __init__(self, target: tuple[int, ...] = (899, 620, 310, 40),
                 missing_step_fid: float = 100.0) -> None:
        self.target = target
        self.missing_step_fid = missing_step_fid
        self.calls: list[Schedule] = []

    def step_macs(self, skip_set: SkipSet) -> float:
        return FULL_MACS - sum(UNIT_MACS[u] for u in skip_set)

    def __call__(self, schedule: Schedule) -> Evaluation:
        self.calls.append(schedule)
        distance = sum(abs(t - g) for t, g in zip(schedule.timesteps, self.target, strict=False))
        damage = sum(UNIT_MACS[u] for s in schedule.skip_sets for u in s) / 100.0
        # a schedule shorter than the target misses steps: far worse than any skip
        damage += self.missing_step_fid * max(0, len(self.target) - len(schedule.timesteps))
        macs = sum(self.step_macs(s) for s in schedule.skip_sets)
        return Evaluation(distance / 10.0 + damage, macs, 0.0)


class BankedFake(FakeEvaluator):
    """FakeEvaluator with noise banks, as ScheduleEvaluator has: the bank of seed S adds
    S / 2 to every FID (a harder bank is harder for every schedule)."""

    def __init__(self, noise_seed: int = 0) -> None:
        super().__init__()
        self.noise_seed = noise_seed

    def with_noise_seed(self, seed: int) -> BankedFake:
        return BankedFake(seed)

    def __call__(self, schedule: Schedule) -> Evaluation:
        result = super().__call__(schedule)
        return result._replace(fid=result.fid + self.noise_seed / 2)


class SlowFakeEvaluator(FakeEvaluator):
    """FakeEvaluator taking `delay` seconds per evaluation (so that a worker or a driver can be
    killed mid-search); with `die_on` and `marker`, the process evaluating that time-step
    tuple dies the first time (os._exit, as a crashed GPU worker would), and never again."""

    def __init__(self, delay: float = 0.2, die_on: tuple[int, ...] | None = None,
                 marker: str | None = None) -> None:
        super().__init__()
        self.delay, self.die_on, self.marker = delay, die_on, marker

    def __call__(self, schedule: Schedule) -> Evaluation:
        import os
        import time
        from pathlib import Path

        if self.die_on is not None and self.marker and schedule.timesteps == self.die_on:
            if not Path(self.marker).exists():
                Path(self.marker).write_text(str(os.getpid()))
                os._exit(1)
        time.sleep(self.delay)
        return super().__call__(schedule)


FIDELITIES = (16, 64, 256)
LUCKY = (990, 980, 970, 960)  # poor, but on the fewest images it looks like the best


class Interrupted(Exception):
    pass


class FidelityFake(FakeEvaluator):
    """The fake FID plus a bias and a noise that shrink with the image count; LUCKY scores
    0.1 on the fewest images only. Every (schedule, images) scored is logged in `scored`."""

    def __init__(self, die_at: int | None = None) -> None:
        super().__init__()
        self.scored: list[tuple[Schedule, int]] = []
        self.die_at = die_at
        self.images = FIDELITIES[-1]

    @property
    def num_images(self) -> int:
        return self.images

    def at_images(self, count: int) -> FidelityFake:
        view = FidelityFake.__new__(FidelityFake)
        view.__dict__ = {**self.__dict__, "images": count}  # shares the logs
        return view

    def __call__(self, schedule: Schedule) -> Evaluation:
        if self.die_at is not None and len(self.scored) == self.die_at:
            raise Interrupted
        self.scored.append((schedule, self.images))
        result = super().__call__(schedule)
        if schedule.timesteps == LUCKY and self.images == FIDELITIES[0]:
            return Evaluation(0.1, result.macs, result.seconds)
        wobble = random.Random(hash((schedule.timesteps, self.images))).gauss(0, 40 / self.images ** 0.5)
        return Evaluation(result.fid + 64 / self.images + wobble, result.macs, result.seconds)
