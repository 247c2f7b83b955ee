"""The one error the diffusion tool-task raises on bad input."""

from __future__ import annotations

from optograph.graph.errors import OptographError


class DiffusionInputError(OptographError, ValueError):
    """Bad input to the diffusion tool-task (a model folder, a reference set, a schedule, a
    budget). The message is one line and names the argument at fault; the CLI exits 2."""

    def __init__(self, argument: str, message: str) -> None:
        self.argument = argument
        super().__init__(f"{argument}: {message}")
