"""Errors raised by the optimizers. Each message is one line naming what failed and where."""

from __future__ import annotations

from optograph.graph.errors import OptographError


class OptimizerError(OptographError):
    """An optimizer could not produce a usable update (an unusable LLM reply after its retries,
    a value that fails validation, a bad state_dict). When it is raised by `step()`, no
    parameter has changed."""
