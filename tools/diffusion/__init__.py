"""optograph.tools.diffusion (needs the `diffusion` extra): sampling diffusers UNets on searched
time steps and per-step architectures, their cost in MACs, and the search itself."""

from .errors import DiffusionInputError, ModelLoadError, ScheduleError, SkipSetError
from .macs import MacsTable, count_macs, measure_macs, schedule_macs, step_macs
from .model import SHIPPED_MODELS, DiffusionModel, load_model
from .noise import NoiseBank
from .sampler import (
    BASELINES,
    SOLVERS,
    baseline_scheduler,
    baseline_timesteps,
    sample,
    sample_baseline,
    solver_scheduler,
    validate_timesteps,
)
from .skips import SkipUnit, UnitSkipper, skippable_units, skipping

__all__ = [
    "BASELINES",
    "SHIPPED_MODELS",
    "SOLVERS",
    "DiffusionInputError",
    "DiffusionModel",
    "MacsTable",
    "ModelLoadError",
    "NoiseBank",
    "ScheduleError",
    "SkipSetError",
    "SkipUnit",
    "UnitSkipper",
    "baseline_scheduler",
    "baseline_timesteps",
    "count_macs",
    "load_model",
    "measure_macs",
    "sample",
    "sample_baseline",
    "schedule_macs",
    "skippable_units",
    "skipping",
    "solver_scheduler",
    "step_macs",
    "validate_timesteps",
]
