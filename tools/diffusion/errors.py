"""Errors of the diffusion tool-task. Every message is one line that starts with the argument
at fault ("model: ...", "timesteps: ..."); the CLI exits 2 on any of them."""

from __future__ import annotations

from optograph.graph.errors import OptographError


class DiffusionInputError(OptographError, ValueError):
    """Bad input to the diffusion tool-task (a model folder, a reference set, a schedule, a
    budget). The message is one line and names the argument at fault; the CLI exits 2."""

    def __init__(self, argument: str, message: str) -> None:
        self.argument = argument
        super().__init__(f"{argument}: {' '.join(message.split())}")


class ModelLoadError(DiffusionInputError):
    """A model spec that does not name a loadable diffusers UNet (what is missing is said)."""


class ScheduleError(DiffusionInputError):
    """Time steps that are empty, out of range, unsorted or repeated; an unknown solver or
    method; skip sets not matching the steps."""


class SkipSetError(DiffusionInputError):
    """A skip set naming a unit the UNet does not have."""

