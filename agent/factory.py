"""The optimizers by name: the one factory the task runner, `optimize_langgraph` and the chat
tools call."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from optograph.graph.errors import OptographError

from .errors import OptimizerError
from .optimizer import Optimizer

OPTIMIZERS: dict[str, tuple[str, str, bool]] = {  # name: (module, class, takes an llm)
    "optoprime": ("optograph.agent.optoprime", "OptoPrime", True),
    "opro": ("optograph.agent.opro", "OPRO", True),
    "evolution": ("optograph.agent.evolution", "EvolutionaryOptimizer", False),
}
ALIASES = {"evolutionary": "evolution"}


def make_optimizer(
    name: str | Optimizer,
    parameters: list[Any],
    llm: Any = None,
    options: Mapping[str, Any] | None = None,
    where: str = "optimizer",
) -> Optimizer:
    """The optimizer `name` ("optoprime", "opro", "evolution") over `parameters`, with `llm`
    (LLM optimizers) and `options`; an Optimizer object is returned as it is. A bad name or
    option is a one-line OptimizerError that starts with `where`."""
    if isinstance(name, Optimizer):
        return name
    key = ALIASES.get(name, name) if isinstance(name, str) else name
    if key not in OPTIMIZERS:
        raise OptimizerError(
            f"{where}: unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)} "
            "or an Optimizer"
        )
    module_name, class_name, takes_llm = OPTIMIZERS[key]
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        raise OptimizerError(f"{where}: optimizer {name!r} is not available") from None
    try:
        if takes_llm:
            return cls(parameters, llm, **dict(options or {}))  # type: ignore[no-any-return]
        return cls(parameters, **dict(options or {}))  # type: ignore[no-any-return]
    except TypeError as exc:
        raise OptimizerError(f"{where}: bad optimizer option: {exc}") from None
    except OptographError as exc:
        raise OptimizerError(f"{where}: {exc}") from None
