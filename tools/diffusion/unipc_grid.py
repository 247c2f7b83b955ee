"""diffusers' UniPC on any grid of time steps.

UniPCMultistepScheduler.set_timesteps takes a step count (or, for flow models, sigmas), not
the time steps themselves, so neither the search nor a pipeline's `timesteps=` argument can
put it on a searched grid. GridUniPCScheduler adds `set_timesteps(timesteps=[...])`: the grid
as given, each step's sigma read from the training schedule, then the final sigma, exactly as
set_timesteps(count) builds them for its own grid (on diffusers' own grid the two give the same
images, bit for bit: tests/tools/test_diffusion_unipc_grid.py). Everything else, the predictor,
the corrector and the solver's state, is diffusers' own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from diffusers import UniPCMultistepScheduler


class GridUniPCScheduler(UniPCMultistepScheduler):
    """UniPCMultistepScheduler that also takes `set_timesteps(timesteps=[...])`: strictly
    descending integer time steps in [0, num_train_timesteps - 1]."""

    def set_timesteps(self, num_inference_steps: int | None = None,
                      device: str | torch.device | None = None, sigmas: Any = None,
                      mu: Any = None, timesteps: Sequence[int] | None = None) -> None:
        if timesteps is None:
            super().set_timesteps(num_inference_steps, device, sigmas=sigmas, mu=mu)
            return
        if num_inference_steps is not None or sigmas is not None:
            raise ValueError("give `timesteps` alone, not with `num_inference_steps` or `sigmas`")
        remapped = [name for name in ("use_karras_sigmas", "use_exponential_sigmas",
                                      "use_beta_sigmas", "use_flow_sigmas")
                    if self.config.get(name)]
        if remapped:  # those re-space the sigmas and would move the grid
            raise ValueError(f"custom timesteps need {remapped[0]}=False")
        grid = [int(t) for t in timesteps]
        last = self.config.num_train_timesteps - 1
        if not grid or any(not 0 <= t <= last for t in grid) or any(
                a <= b for a, b in zip(grid, grid[1:], strict=False)):
            raise ValueError(f"timesteps must be strictly descending in [0, {last}]; got {grid}")
        # the count's own set-up resets the solver's state (model outputs, step index); then
        # the grid and its sigmas replace the count's
        super().set_timesteps(len(grid), device)
        train_sigmas = ((1 - self.alphas_cumprod) / self.alphas_cumprod) ** 0.5
        if self.config.final_sigmas_type == "zero":
            final = torch.zeros(1)
        else:  # "sigma_min", as diffusers' set_timesteps takes it
            final = train_sigmas[:1]
        self.sigmas = torch.cat([train_sigmas[grid], final]).to(torch.float32)
        self.timesteps = torch.tensor(grid, dtype=torch.int64, device=device)
