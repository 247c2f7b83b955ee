"""A searched schedule in the user's own diffusers pipeline: the scheduler it was searched
with, set to its time steps (`set_timesteps(timesteps=...)`), and a UNet wrapper that skips
each step's units.

    exported = export_result("runs/s4/result.json", "runs/model")   # or a result dict
    scheduler = exported.scheduler               # the solver's scheduler, steps set
    unet = exported.wrap(pipeline.unet)           # the unet itself when nothing is skipped
    pipeline.scheduler, pipeline.unet = scheduler, unet

`optograph diffusion export RESULT.json --model M --out FOLDER` writes FOLDER/scheduler/
(scheduler_config.json, for `from_pretrained`) and FOLDER/schedule.json (time steps, skip sets,
solver) and prints the lines that load them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import DiffusionInputError
from .sampler import SOLVERS, _check_skip_sets, searched_scheduler, validate_timesteps
from .search_space import coerce_schedule
from .skips import UnitSkipper, later_skips


class SkippingUNet(nn.Module):
    """Wraps a diffusers UNet: at a call whose time step is one of the schedule's, that
    step's skip set is skipped as the search's sampler skips it (a unit's shortcut plus its
    residual from the latest earlier step, skips.py). A call at the schedule's first time step
    starts a new sampling run. Other arguments and the output pass through unchanged; unknown
    time steps run the full UNet."""

    def __init__(self, unet: nn.Module, timesteps: Sequence[int],
                 skip_sets: Sequence[Sequence[str]]) -> None:
        super().__init__()
        self.unet = unet
        self.skipper = UnitSkipper(unet)
        steps = [int(t) for t in timesteps]
        checked = _check_skip_sets(self.skipper, skip_sets, len(steps))  # the sampler's check
        self.first_step = steps[0] if steps else None
        self.skip_sets = dict(zip(steps, checked, strict=True))
        self.to_record = dict(zip(steps, later_skips(checked), strict=True))

    def __getattr__(self, name: str) -> Any:  # config, dtype, device, ... of the wrapped UNet
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["unet"], name)

    def forward(self, sample: torch.Tensor, timestep: Any, *args: Any, **kwargs: Any) -> Any:
        step = int(timestep.flatten()[0]) if isinstance(timestep, torch.Tensor) else int(timestep)
        if step == self.first_step:
            self.skipper.new_run()
        with self.skipper.skip(self.skip_sets.get(step, ()), record=self.to_record.get(step, ())):
            return self.unet(sample, timestep, *args, **kwargs)


@dataclass
class ExportedSchedule:
    timesteps: list[int]
    skip_sets: list[list[str]]
    solver: str
    scheduler: Any  # DPMSolverMultistepScheduler (ddim, dpmpp2m) or GridUniPCScheduler (unipc)

    @property
    def skips_units(self) -> bool:
        return any(self.skip_sets)

    def wrap(self, unet: nn.Module) -> nn.Module:
        """The UNet to sample with: wrapped when a step skips units, else `unet` itself."""
        return SkippingUNet(unet, self.timesteps, self.skip_sets) if self.skips_units else unet

    def save(self, folder: str | Path) -> Path:
        out = Path(folder)
        self.scheduler.save_pretrained(out / "scheduler")
        (out / "schedule.json").write_text(json.dumps(
            {"timesteps": self.timesteps, "skip_sets": self.skip_sets, "solver": self.solver},
            indent=1))
        return out


def read_result(result: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """A search's result.json (or its dict), checked: its schedule (a `Schedule`, and its
    time steps and skip sets as lists), solver, model and FID (None when absent). Every reader
    of a result (export, `compare --results`, `search --seed-from`) comes through here."""
    where = "result"
    if not isinstance(result, Mapping):
        where = str(result)
        try:
            result = dict(json.loads(Path(result).read_text()))
        except (OSError, ValueError, TypeError) as error:
            raise DiffusionInputError("result", f"{where}: not a readable result.json ({error})") from None
    try:
        schedule = coerce_schedule(dict(result))  # type: ignore[arg-type]
        solver = str(result["solver"])
        fid = None if result.get("fid") is None else float(result["fid"])
    except (KeyError, TypeError, ValueError) as error:
        raise DiffusionInputError("result", f"{where}: not a search result ({error})") from None
    if solver not in SOLVERS:
        raise DiffusionInputError("result", f"{where}: unknown solver {solver!r}")
    return {"schedule": schedule, "fid": fid, "timesteps": list(schedule.timesteps),
            "skip_sets": [list(s) for s in schedule.skip_sets], "solver": solver,
            "model": (result.get("config") or {}).get("model")}


def export_result(result: str | Path | Mapping[str, Any], model: Any = None,
                  device: str | torch.device | None = None) -> ExportedSchedule:
    """The scheduler (and skip sets) of a search result for diffusers. `model`: a model spec
    (a folder, a hub id, 'digits'), a loaded DiffusionModel, or a scheduler config dict; None:
    the model the result was searched on."""
    data = read_result(result)
    if isinstance(model, Mapping):
        config = dict(model)
    else:
        from .model import DiffusionModel, load_model

        spec = model if model is not None else data["model"]
        if spec is None:
            raise DiffusionInputError("model", "the result names no model; give one")
        loaded = spec if isinstance(spec, DiffusionModel) else load_model(spec, "cpu")
        config = dict(loaded.scheduler_config)
    validate_timesteps(data["timesteps"], int(config.get("num_train_timesteps", 1000)))
    scheduler = searched_scheduler(config, data["solver"], data["timesteps"], device)
    return ExportedSchedule(data["timesteps"], data["skip_sets"], data["solver"], scheduler)


def usage_snippet(folder: str | Path, scheduler_class: type) -> str:
    """The lines that use an exported folder in a diffusers pipeline; `scheduler_class` is the
    exported scheduler's (searched_scheduler's choice for its solver)."""
    name = scheduler_class.__name__
    module = "diffusers" if scheduler_class.__module__.startswith("diffusers") \
        else scheduler_class.__module__  # diffusers' own: its top-level name
    return (
        "import json\n"
        f"from {module} import {name}\n"
        "from optograph.tools.diffusion.export import SkippingUNet\n"
        f"schedule = json.load(open('{folder}/schedule.json'))\n"
        f"scheduler = {name}.from_pretrained('{folder}/scheduler')\n"
        "scheduler.set_timesteps(timesteps=schedule['timesteps'])\n"
        "unet = SkippingUNet(pipeline.unet, schedule['timesteps'], schedule['skip_sets'])"
        "  # only when a step skips units\n")
