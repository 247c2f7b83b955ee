"""optograph: optimize computational workflows the way autodiff trains networks.

The engine (optograph.graph) is imported eagerly; optimizers and entry points are imported
on first use, so `import optograph` stays light (no torch, no LLM client)."""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from optograph.graph import (
    Bundle,
    Choice,
    ExecutionError,
    FloatRange,
    GraphError,
    IntRange,
    Module,
    Node,
    OptographError,
    Run,
    SearchSpace,
    Summary,
    bundle,
    load_parameters,
    minimal_subgraph,
    model,
    no_trace,
    node,
    pack,
    save_parameters,
    summarize,
    to_dot,
    to_json,
    to_mermaid,
    to_networkx,
)

try:
    __version__ = version("optograph")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

# name -> module that defines it; resolved by __getattr__ on first access
_LAZY = {
    "OptoPrime": "optograph.agent",
    "OPRO": "optograph.agent",
    "EvolutionaryOptimizer": "optograph.agent",
    "Optimizer": "optograph.agent",
    "OptimizerError": "optograph.agent",
    "get_chat_model": "optograph.agent",
    "optimize": "optograph.agent",
    "trace_langgraph": "optograph.graph.langgraph",
    "optimize_langgraph": "optograph.agent",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'optograph' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "Bundle", "Choice", "ExecutionError", "FloatRange", "GraphError", "IntRange", "Module", "Node",
    "OptographError", "Run", "SearchSpace", "Summary", "bundle", "load_parameters",
    "minimal_subgraph", "model", "no_trace", "node", "pack", "save_parameters", "summarize", "to_dot",
    "to_json", "to_mermaid", "to_networkx", *_LAZY,
]
