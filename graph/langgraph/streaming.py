"""Streaming a traced graph: the user gets exactly the chunks the untraced graph streams,
while the tracer also learns the final state from LangGraph itself (a "values" stream of the
root graph), whatever the state's type (a mapping, a dataclass, a list) and however the
nodes wrote it (updates, Commands, reducers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_SKIP = object()


class StreamPlan:
    """What to ask LangGraph's stream for, and how to give each chunk back to the user."""

    def __init__(self, kwargs: dict[str, Any], default_mode: str | Sequence[str]) -> None:
        self.kwargs = dict(kwargs)
        self.final: Any = None
        self.seen_final = False
        modes = kwargs.get("stream_mode") or default_mode
        self.single = isinstance(modes, str)
        self.user_modes = [modes] if isinstance(modes, str) else list(modes)
        self.subgraphs = bool(kwargs.get("subgraphs", False))
        # v2 stream parts have their own shape: hand them through, read nothing from them
        self.active = kwargs.get("version") in (None, "v1")
        if self.active:
            self.kwargs["stream_mode"] = [*self.user_modes, "values"]

    def take(self, chunk: Any) -> Any:
        """The chunk the untraced stream would have yielded, or `SKIP`."""
        if not self.active:
            return chunk
        if self.subgraphs:
            namespace, mode, data = chunk
        else:
            namespace, (mode, data) = (), chunk
        if mode == "values" and not namespace and not _only_interrupt(data):
            self.final, self.seen_final = data, True
        if mode not in self.user_modes:
            return _SKIP
        if self.single:
            return (namespace, data) if self.subgraphs else data
        return (namespace, mode, data) if self.subgraphs else (mode, data)


def _only_interrupt(data: Any) -> bool:
    return isinstance(data, dict) and set(data) == {"__interrupt__"}


SKIP = _SKIP
__all__ = ["SKIP", "StreamPlan"]
