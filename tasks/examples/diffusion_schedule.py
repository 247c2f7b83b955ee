"""The diffusion time-step search as a task: the parameter is a schedule of the shipped
digits model (time steps, full network), the workflow samples the model on it and computes
its FID (`evaluate_schedule`, a traced operation), and the built-in `fid` feedback scores it
(the FID; lower is better). The evolutionary optimizer searches the schedule space.

Every schedule is sampled from the same noise and labels, so FIDs are comparable. Needs the
`diffusion` extra (torch, diffusers)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import optograph as og


@lru_cache(maxsize=4)  # one evaluator per setting and process: the model and reference load once
def evaluator(model: str = "digits", reference: str = "digits", solver: str = "ddim",
              num_images: int = 250) -> Any:
    from optograph.tools.diffusion.evaluator import build_evaluator

    return build_evaluator(model, reference, solver, num_images=num_images)


def schedule_space(steps: int = 4, num_train_timesteps: int = 1000) -> Any:
    """Schedules of `steps` time steps with the full network (the first stage of the search)."""
    from optograph.tools.diffusion.search_space import ScheduleSpace

    return ScheduleSpace(steps=steps, num_train_timesteps=num_train_timesteps)


@og.bundle()
def evaluate_schedule(schedule: Any, model: str, reference: str, images: int) -> dict[str, Any]:
    """Sample the diffusion model on the schedule's time steps (DDIM-exact, the same noise
    for every schedule) and return its FID against the reference (lower is better), its MACs
    per image and the seconds it took."""
    from optograph.tools.diffusion.search_space import coerce_schedule

    result = evaluator(model, reference, "ddim", images)(coerce_schedule(schedule))
    return {"fid": float(result.fid), "macs": float(result.macs),
            "seconds": float(result.seconds)}


def workflow(schedule: og.Node, model: og.Node, reference: og.Node, images: og.Node) -> og.Node:
    """One evaluation; model, reference and images are fixed (non-trainable) parameters."""
    return evaluate_schedule(schedule, model, reference, images)
