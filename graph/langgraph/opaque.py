"""Graphs a node's function runs itself (`sub.invoke(...)` inside the node, as LangGraph's docs
do when a subgraph's state schema differs from the parent's). They run unchanged, but only as
part of that node's step: their nodes are not instrumented. `trace_langgraph` says so once,
when it wraps the node, for each compiled graph the function refers to by name (a global or a
closure variable)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any


def _is_graph(value: Any) -> bool:
    from langgraph.pregel import Pregel

    # a compiled graph, or a traced one (which runs untraced inside a traced node)
    return isinstance(value, Pregel) or isinstance(getattr(value, "compiled", None), Pregel)


def graphs_called_by(fn: Callable[..., Any]) -> list[str]:
    """The names through which `fn` refers to compiled graphs (its globals and closure)."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return []
    globals_ = getattr(fn, "__globals__", None) or {}
    found = [name for name in code.co_names if _is_graph(globals_.get(name))]
    for name, cell in zip(code.co_freevars, getattr(fn, "__closure__", None) or (), strict=False):
        try:
            value = cell.cell_contents
        except ValueError:  # a closure variable not bound yet
            continue
        if _is_graph(value):
            found.append(name)
    return list(dict.fromkeys(found))


def warn_graphs_called_by(node: str, fn: Callable[..., Any]) -> None:
    for name in graphs_called_by(fn):
        warnings.warn(
            f"trace_langgraph: graph node {node!r} runs graph {name!r} from its function: "
            "recorded as part of the node's step; its inner nodes are not recorded (add the "
            "graph as a node to record them)",
            stacklevel=6,
        )


__all__ = ["graphs_called_by", "warn_graphs_called_by"]
