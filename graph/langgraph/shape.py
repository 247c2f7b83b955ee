"""The shape of one LangGraph StateGraph (the traced graph, or a subgraph used as a node) as
the record needs it: its channels, which of them aggregate writes, its declared edges, and
which nodes wait (defer) or end a branch. Read once per builder, from its public attributes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GraphShape:
    channels: frozenset[str] = frozenset()  # the state channels
    aggregate: frozenset[str] = frozenset()  # channels with a reducer (every write counts)
    managed: frozenset[str] = frozenset()  # managed values (RemainingSteps, ...)
    static_edges: frozenset[tuple[str, str]] = frozenset()
    waiting_edges: frozenset[tuple[tuple[str, ...], str]] = frozenset()
    deferred: frozenset[str] = frozenset()  # nodes added with defer=True
    with_edges: frozenset[str] = frozenset()  # nodes with an outgoing edge or router


def shape_of(builder: Any) -> GraphShape:
    """The shape of a StateGraph builder."""
    with_edges = [s for s, _ in builder.edges]
    with_edges += [s for starts, _ in builder.waiting_edges for s in starts]
    with_edges += list(builder.branches)
    return GraphShape(
        channels=frozenset(builder.channels),
        aggregate=frozenset(
            key
            for key, channel in builder.channels.items()
            if type(channel).__name__ in ("BinaryOperatorAggregate", "Topic")
        ),
        managed=frozenset(getattr(builder, "managed", {}) or {}),
        static_edges=frozenset(builder.edges),
        waiting_edges=frozenset(
            (tuple(starts), end) for starts, end in builder.waiting_edges
        ),
        deferred=frozenset(
            name for name, spec in builder.nodes.items() if getattr(spec, "defer", False)
        ),
        with_edges=frozenset(with_edges),
    )


__all__ = ["GraphShape", "shape_of"]
