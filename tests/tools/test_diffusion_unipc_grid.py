"""UniPC on a searched grid (GridUniPCScheduler): diffusers' own UniPC on diffusers' grid, and
usable through a pipeline's `timesteps=` argument."""

from __future__ import annotations

import inspect
from typing import Any, get_args

import pytest
import torch
from diffusers import UniPCMultistepScheduler
from diffusion_tiny import one_thread, save_pipeline, tiny_unet

from optograph.tools.diffusion.langchain_tools import Solver
from optograph.tools.diffusion.model import DiffusionModel, load_model
from optograph.tools.diffusion.noise import NoiseBank
from optograph.tools.diffusion.sampler import (
    SOLVERS,
    baseline_timesteps,
    sample,
    sample_baseline,
    searched_scheduler,
)
from optograph.tools.diffusion.unipc_grid import GridUniPCScheduler

_threads = pytest.fixture(autouse=True, scope="module")(one_thread)


def retrieve_timesteps(scheduler: Any, timesteps: list[int]) -> tuple[Any, int]:
    """What diffusers' pipelines do with `timesteps=` (their `retrieve_timesteps`, copied into
    every pipeline module; those import transformers, which the tests do not install)."""
    if "timesteps" not in inspect.signature(scheduler.set_timesteps).parameters:
        raise ValueError(f"{type(scheduler).__name__} does not support custom timestep schedules")
    scheduler.set_timesteps(timesteps=timesteps)
    return scheduler.timesteps, len(scheduler.timesteps)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> DiffusionModel:
    folder = save_pipeline(tmp_path_factory.mktemp("unipc") / "pipe", tiny_unet(num_class_embeds=4))
    return load_model(folder, device="cpu")


@pytest.mark.parametrize("steps", [2, 4, 10])
def test_on_diffusers_own_grid_it_is_diffusers_unipc_bit_for_bit(model: DiffusionModel,
                                                                  steps: int) -> None:
    bank = NoiseBank.for_model(model, 6, seed=3)
    grid = baseline_timesteps(model, "unipc", steps)
    ours = sample(model, grid, bank, solver="unipc", clamp=False)
    theirs = sample_baseline(model, "unipc", steps, bank, clamp=False)
    assert torch.equal(ours, theirs)


def test_another_grid_gives_other_images(model: DiffusionModel) -> None:
    bank = NoiseBank.for_model(model, 4, seed=1)
    grid = baseline_timesteps(model, "unipc", 4)
    moved = [grid[0], grid[1] - 60, grid[2], grid[3]]
    assert not torch.allclose(sample(model, grid, bank, solver="unipc"),
                              sample(model, moved, bank, solver="unipc"), atol=1e-3)


def test_the_grid_is_exactly_the_one_asked_for(model: DiffusionModel) -> None:
    grid = [941, 700, 388, 120, 17, 3]
    scheduler = searched_scheduler(model.scheduler_config, "unipc", grid)
    assert [int(t) for t in scheduler.timesteps] == grid
    sigmas = ((1 - scheduler.alphas_cumprod) / scheduler.alphas_cumprod) ** 0.5
    torch.testing.assert_close(scheduler.sigmas[:-1], sigmas[grid].float())
    assert float(scheduler.sigmas[-1]) == 0.0 and len(scheduler.sigmas) == len(grid) + 1


def test_a_pipeline_can_pass_the_grid_as_timesteps(model: DiffusionModel) -> None:
    # diffusers' pipelines take `timesteps=` only from schedulers whose set_timesteps has it
    grid = [900, 520, 260, 40]
    plain = UniPCMultistepScheduler.from_config(model.scheduler_config)
    with pytest.raises(ValueError, match="custom timestep"):
        retrieve_timesteps(plain, timesteps=grid)
    scheduler = GridUniPCScheduler.from_config(model.scheduler_config)
    timesteps, steps = retrieve_timesteps(scheduler, timesteps=grid)
    assert [int(t) for t in timesteps] == grid and steps == 4
    scheduler.set_timesteps(3)  # a step count still works as in diffusers
    assert len(scheduler.timesteps) == 3


@pytest.mark.parametrize("timesteps, message", [
    ([500, 500, 10], "strictly descending"), ([10, 500], "strictly descending"),
    ([1000, 10], "strictly descending"), ([], "strictly descending"),
])
def test_bad_grids_are_refused(model: DiffusionModel, timesteps: list[int], message: str) -> None:
    scheduler = GridUniPCScheduler.from_config(model.scheduler_config)
    with pytest.raises(ValueError, match=message):
        scheduler.set_timesteps(timesteps=timesteps)


def test_a_resampling_sigma_config_is_refused(model: DiffusionModel) -> None:
    scheduler = GridUniPCScheduler.from_config(model.scheduler_config, use_karras_sigmas=True)
    with pytest.raises(ValueError, match="use_karras_sigmas=False"):
        scheduler.set_timesteps(timesteps=[900, 100])


def test_the_tool_schema_offers_every_solver() -> None:
    assert get_args(Solver) == SOLVERS
