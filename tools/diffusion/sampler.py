"""Sampling a diffusers UNet on an arbitrary grid of time steps, with one skip set per step,
and diffusers' built-in schedules as baselines.

Solvers on a custom grid (any strictly descending time steps in [0, T-1]):
- "ddim": DPMSolverMultistepScheduler with solver_order=1, algorithm_type="dpmsolver++",
  final_sigmas_type="zero": exactly deterministic DDIM (eta=0) on that grid, ending on the
  predicted x0 as DDIMScheduler does with set_alpha_to_one. DDIMScheduler itself cannot take a
  custom grid (it derives the previous step from a fixed stride).
- "dpmpp2m": the same scheduler with solver_order=2 (DPM-Solver++(2M)), first order at the
  first and the last step.
- "unipc": UniPC as diffusers' UniPC baseline runs it (order 2, bh2, predicting x0, with its
  corrector), on the grid: GridUniPCScheduler (unipc_grid.py).
Sample clipping, thresholding and sigma re-spacing are turned off so that the grid is exactly
the one asked for. The model's output is taken as its training prediction type (epsilon,
v_prediction or sample) from the model's scheduler config.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, UniPCMultistepScheduler

from .errors import ScheduleError
from .model import DiffusionModel
from .noise import NoiseBank
from .skips import SkipSet, UnitSkipper, later_skips
from .unipc_grid import GridUniPCScheduler

SOLVERS = ("ddim", "dpmpp2m", "unipc")  # the one list of solvers on a custom grid
_UNIPC = {"solver_order": 2, "predict_x0": True}  # the baseline's and the grid solver's
# method -> (scheduler class, config overrides), each run with set_timesteps(steps).
BASELINES: Mapping[str, tuple[type[Any], dict[str, Any]]] = MappingProxyType({
    "ddim-linspace": (DDIMScheduler, {"timestep_spacing": "linspace"}),
    "ddim-leading": (DDIMScheduler, {"timestep_spacing": "leading"}),
    "ddim-trailing": (DDIMScheduler, {"timestep_spacing": "trailing"}),
    "dpmpp2m-uniform": (DPMSolverMultistepScheduler, {"timestep_spacing": "linspace"}),
    "dpmpp2m-karras": (DPMSolverMultistepScheduler, {"use_karras_sigmas": True}),
    "dpmpp2m-logsnr": (DPMSolverMultistepScheduler, {"use_lu_lambdas": True}),
    "unipc": (UniPCMultistepScheduler, {"timestep_spacing": "linspace"}),
})
_COMMON = {"clip_sample": False, "thresholding": False, "variance_type": None}
_DDIM = {"set_alpha_to_one": True, "steps_offset": 0}
_MULTISTEP = {"final_sigmas_type": "zero", "lambda_min_clipped": -float("inf")}
_DPM_PLAIN = {"use_karras_sigmas": False, "use_lu_lambdas": False,
              "use_exponential_sigmas": False, "use_beta_sigmas": False, "use_flow_sigmas": False}

Progress = Callable[[int, int], None]


def validate_timesteps(timesteps: Sequence[int], num_train_timesteps: int,
                       argument: str = "timesteps") -> list[int]:
    """The grid as a list of ints if it is non-empty, strictly descending and in [0, T-1]."""
    try:
        values = [int(t) for t in timesteps]
    except (TypeError, ValueError):
        raise ScheduleError(argument, f"expected integers; got {list(timesteps)!r}") from None
    if any(float(t) != v for t, v in zip(timesteps, values, strict=True)):
        raise ScheduleError(argument, f"expected integers; got {list(timesteps)!r}")
    if not values:
        raise ScheduleError(argument, "empty; give at least one time step")
    out_of_range = [t for t in values if not 0 <= t < num_train_timesteps]
    if out_of_range:
        raise ScheduleError(argument, f"{out_of_range[0]} is outside [0, {num_train_timesteps - 1}]")
    for previous, current in zip(values, values[1:], strict=False):
        if current >= previous:
            problem = "repeated" if current == previous else "not descending"
            raise ScheduleError(argument, f"{problem} at {previous}, {current}; time steps must be "
                                "strictly descending")
    return values


def check_solver(solver: str) -> str:
    """`solver` when it is one of SOLVERS; else a one-line ScheduleError naming the field."""
    if solver not in SOLVERS:
        raise ScheduleError("solver", f"unknown solver {solver!r}; expected one of {', '.join(SOLVERS)}")
    return solver


def solver_scheduler(model: DiffusionModel, solver: str, timesteps: Sequence[int]) -> Any:
    """A fresh scheduler of `solver` set to exactly `timesteps` (validated)."""
    return searched_scheduler(model.scheduler_config, solver, timesteps, model.device)


def searched_scheduler(scheduler_config: Mapping[str, Any], solver: str,
                       timesteps: Sequence[int], device: torch.device | str | None = None) -> Any:
    """diffusers' scheduler for `solver` (ddim: DPMSolverMultistepScheduler of first order,
    exact DDIM; dpmpp2m: of second order; unipc: GridUniPCScheduler) from a model's scheduler
    config, set to exactly `timesteps`: what the search samples with, and what `export.py`
    hands to a user's pipeline."""
    check_solver(solver)
    grid = validate_timesteps(timesteps, int(scheduler_config.get("num_train_timesteps", 1000)))
    if solver == "unipc":
        unipc = GridUniPCScheduler.from_config(
            dict(scheduler_config), **_UNIPC, lower_order_final=True, **_COMMON, **_MULTISTEP,
            **{k: v for k, v in _DPM_PLAIN.items() if k != "use_lu_lambdas"})
        unipc.set_timesteps(timesteps=grid, device=device)
        unipc.set_begin_index(0)
        return unipc
    scheduler = DPMSolverMultistepScheduler.from_config(
        dict(scheduler_config), solver_order=1 if solver == "ddim" else 2,
        algorithm_type="dpmsolver++", lower_order_final=True, euler_at_final=False,
        **_COMMON, **_MULTISTEP, **_DPM_PLAIN)
    scheduler.set_timesteps(timesteps=grid, device=device)
    scheduler.set_begin_index(0)
    return scheduler


def baseline_scheduler(model: DiffusionModel, method: str, steps: int) -> Any:
    """A fresh diffusers scheduler for a baseline method, set to `steps` steps."""
    if method not in BASELINES:
        raise ScheduleError("method", f"unknown method {method!r}; expected one of "
                            f"{', '.join(BASELINES)}")
    if not isinstance(steps, int) or not 1 <= steps <= model.num_train_timesteps:
        raise ScheduleError("steps", f"must be an integer in [1, {model.num_train_timesteps}]; "
                            f"got {steps!r}")
    scheduler_class, overrides = BASELINES[method]
    settings = {**_COMMON, **(_DDIM if scheduler_class is DDIMScheduler else _MULTISTEP)}
    if scheduler_class is DPMSolverMultistepScheduler:
        settings |= {**_DPM_PLAIN, "solver_order": 2, "algorithm_type": "dpmsolver++"}
    if scheduler_class is UniPCMultistepScheduler:
        settings |= _UNIPC
    scheduler = scheduler_class.from_config(model.scheduler_config, **(settings | overrides))
    scheduler.set_timesteps(steps, device=model.device)
    return scheduler


def baseline_timesteps(model: DiffusionModel, method: str, steps: int) -> list[int]:
    """The grid a baseline method samples on (descending)."""
    return [int(t) for t in baseline_scheduler(model, method, steps).timesteps]


def _check_skip_sets(skipper: UnitSkipper, skip_sets: Sequence[Sequence[str]] | None,
                     steps: int) -> list[SkipSet]:
    if skip_sets is None:
        return [()] * steps
    if isinstance(skip_sets, str) or len(skip_sets) != steps:
        count = "a string" if isinstance(skip_sets, str) else f"{len(skip_sets)} skip sets"
        raise ScheduleError("skip_sets", f"{count} for {steps} time steps; give one per step")
    return [skipper.validate(s, f"skip_sets[{i}]") for i, s in enumerate(skip_sets)]


@torch.no_grad()
def run_scheduler(model: DiffusionModel, scheduler: Any, noise: NoiseBank,
                  skip_sets: Sequence[Sequence[str]] | None = None, batch_size: int = 256,
                  progress: Progress | None = None, clamp: bool = True) -> torch.Tensor:
    """Denoise every sample of the bank with `scheduler` (already set to its steps; each batch
    runs on a fresh copy, since multistep schedulers keep state, and a copy costs a fraction
    of from_config); skip_sets[i] applies at the scheduler's step i, and a skipped unit
    reuses its residual from the latest earlier step of the same batch (skips.py).
    Returns (N, C, H, W) float32 images on the model's device, clamped to [-1, 1] unless
    clamp is False."""
    skipper = UnitSkipper(model.unet)
    steps = len(scheduler.timesteps)
    per_step = _check_skip_sets(skipper, skip_sets, steps)
    to_record = later_skips(per_step)
    total, done, outputs = steps * len(noise), 0, []
    for start_noise, conditions in noise.batches(batch_size, model.device, model.dtype):
        fresh = copy.deepcopy(scheduler)
        skipper.new_run()
        sample = start_noise * fresh.init_noise_sigma
        for index, timestep in enumerate(fresh.timesteps):
            with skipper.skip(per_step[index], record=to_record[index]):
                model_input = fresh.scale_model_input(sample, timestep)
                prediction = model.predict_noise(model_input, timestep, conditions)
            sample = fresh.step(prediction, timestep, sample).prev_sample
            done += len(start_noise)
            if progress is not None:
                progress(done, total)
        outputs.append(sample.float().clamp(-1.0, 1.0) if clamp else sample.float())
    return torch.cat(outputs)


def sample(model: DiffusionModel, timesteps: Sequence[int], noise: NoiseBank,
           solver: str = "ddim", skip_sets: Sequence[Sequence[str]] | None = None,
           batch_size: int = 256, progress: Progress | None = None, clamp: bool = True
           ) -> torch.Tensor:
    """Images for every sample of the noise bank, denoised on `timesteps` (strictly
    descending) with `solver` (one of SOLVERS); skip_sets[i] is skipped at timesteps[i].
    Returns (N, C, H, W) float32 on the model's device in [-1, 1] (unless clamp is False)."""
    return run_scheduler(model, solver_scheduler(model, solver, timesteps), noise,
                         skip_sets, batch_size, progress, clamp)


def sample_baseline(model: DiffusionModel, method: str, steps: int, noise: NoiseBank,
                    batch_size: int = 256, progress: Progress | None = None, clamp: bool = True
                    ) -> torch.Tensor:
    """Images from a diffusers built-in schedule (a key of BASELINES) with `steps` steps."""
    return run_scheduler(model, baseline_scheduler(model, method, steps), noise,
                         None, batch_size, progress, clamp)
