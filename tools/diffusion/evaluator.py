"""Evaluating one schedule on a model: sample the fixed noise bank on its time steps and skip
sets, then FID against the reference. Every candidate of a search and every baseline goes
through the same evaluator, so all are compared on the same noise, labels and reference."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import DiffusionInputError
from .features import FeatureExtractor, load_extractor
from .fid import FIDEvaluator
from .macs import MacsTable, measure_macs
from .macs_budget import full_network_macs
from .model import DiffusionModel, load_model
from .noise import NoiseBank
from .reference import ReferenceStats, check_enough_images, proxy_reference, reference_statistics
from .sampler import BASELINES, baseline_timesteps, check_solver, sample, sample_baseline
from .search import Evaluation, uniform_timesteps
from .search_space import Schedule, SkipSet
from .validation import VALIDATION_SEED_OFFSET

PROXY_STEPS = 100


@dataclass
class ScheduleEvaluator:
    """FID, MACs (per image, whole schedule) and seconds of a schedule or a baseline."""

    model: DiffusionModel
    fid: FIDEvaluator
    noise: NoiseBank
    macs_table: MacsTable
    solver: str = "ddim"
    batch_size: int = 256

    @property
    def num_train_timesteps(self) -> int:
        return self.model.num_train_timesteps

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(self.macs_table.units)

    def step_macs(self, skip_set: SkipSet) -> float:
        return float(self.macs_table.step_macs(skip_set))

    @property
    def num_images(self) -> int:
        return len(self.noise)

    def at_images(self, count: int) -> ScheduleEvaluator:
        """This evaluator on the first `count` images of its noise bank (same noise and
        labels for every candidate at a fidelity; multi-fidelity search, fidelity.py)."""
        if not 1 <= count <= len(self.noise):
            raise DiffusionInputError("fidelities", f"{count} images: the noise bank has "
                                      f"{len(self.noise)}")
        check_enough_images(count, self.fid.extractor, "fidelities")
        return dataclasses.replace(self, noise=self.noise.first(count))

    def known_grids(self, steps: int) -> list[tuple[int, ...]]:
        """diffusers' built-in grids at `steps` (sampler.BASELINES) that are `steps` distinct
        descending time steps (seeding.py)."""
        grids: list[tuple[int, ...]] = []
        for method in BASELINES:
            grid = tuple(baseline_timesteps(self.model, method, steps))
            if len(set(grid)) == steps and list(grid) == sorted(grid, reverse=True):
                grids.append(grid)
        return list(dict.fromkeys(grids))

    def with_noise_seed(self, seed: int) -> ScheduleEvaluator:
        """The same model, reference, solver and sample count on another noise bank (the
        model and reference statistics are shared, not copied)."""
        noise = NoiseBank.for_model(self.model, len(self.noise), seed=seed)
        return dataclasses.replace(self, noise=noise)

    def validation_evaluator(self) -> ScheduleEvaluator:
        """This evaluator on the validation noise of its seed (validation.py)."""
        return self.with_noise_seed(self.noise.seed + VALIDATION_SEED_OFFSET)

    def images(self, schedule: Schedule) -> torch.Tensor:
        return sample(self.model, list(schedule.timesteps), self.noise, self.solver,
                      [list(s) for s in schedule.skip_sets], self.batch_size)

    def __call__(self, schedule: Schedule) -> Evaluation:
        started = time.perf_counter()
        images = self.images(schedule)
        fid = self.fid(images)
        macs = float(self.macs_table.schedule_macs(schedule.skip_sets))
        return Evaluation(fid, macs, time.perf_counter() - started)

    def baseline(self, method: str, steps: int) -> Evaluation:
        """A diffusers built-in schedule (sampler.BASELINES) with `steps` network calls."""
        started = time.perf_counter()
        images = sample_baseline(self.model, method, steps, self.noise, self.batch_size)
        fid = self.fid(images)
        return Evaluation(fid, full_network_macs(self, steps),
                          time.perf_counter() - started)


def model_fingerprint(model: DiffusionModel) -> str:
    digest = hashlib.sha256(model.source.encode())
    for key, tensor in sorted(model.unet.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def load_reference(spec: str, model: DiffusionModel, extractor: FeatureExtractor,
                   cache_dir: str | Path | None, num_images: int, seed: int,
                   batch_size: int = 256) -> ReferenceStats:
    """A reference spec (see reference.py) or "proxy[:STEPS]": the model's own STEPS-step
    DDIM samples (default 100) from a noise bank disjoint from the search's."""
    if not spec.startswith("proxy"):
        return reference_statistics(spec, extractor, model.sample_shape, cache_dir, batch_size)
    _, _, steps_text = spec.partition(":")
    try:
        steps = int(steps_text) if steps_text else PROXY_STEPS
    except ValueError:
        raise DiffusionInputError("reference", f"{spec!r}: expected proxy or proxy:STEPS") from None
    if not 1 <= steps <= model.num_train_timesteps:
        raise DiffusionInputError("reference", f"{spec!r}: steps out of 1..{model.num_train_timesteps}")
    count = max(num_images, 2 * (extractor.num_features + 1))
    timesteps = list(uniform_timesteps(steps, model.num_train_timesteps))

    def generate() -> torch.Tensor:
        bank = NoiseBank.for_model(model, count, seed=seed + 1_000_003)
        return sample(model, timesteps, bank, "ddim", None, batch_size)

    label = f"{model_fingerprint(model)}|ddim{steps}|{count}|{seed}"
    return proxy_reference(generate, extractor, label, cache_dir, batch_size)


def build_evaluator(
    model: str | Path | DiffusionModel = "digits",
    reference: str = "digits",
    solver: str = "ddim",
    device: str | None = None,
    num_images: int = 250,
    seed: int = 0,
    features: str | FeatureExtractor | None = None,
    cache_dir: str | Path | None = None,
    batch_size: int = 256,
) -> ScheduleEvaluator:
    """Everything a search needs, from specs: model, extractor, reference statistics, noise
    bank (num_images samples, labels balanced over the classes) and the MACs table."""
    loaded = model if isinstance(model, DiffusionModel) else load_model(model, device)
    extractor = load_extractor(features)
    check_enough_images(num_images, extractor, "images")
    stats = load_reference(reference, loaded, extractor.to(loaded.device), cache_dir,
                           num_images, seed, batch_size)
    fid = FIDEvaluator(stats, extractor, loaded.device, batch_size)
    noise = NoiseBank.for_model(loaded, num_images, seed=seed)
    check_solver(solver)
    return ScheduleEvaluator(loaded, fid, noise, measure_macs(loaded), solver, batch_size)
