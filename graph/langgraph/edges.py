"""Reading a LangGraph run: the edges it took, and what a node's input and return value say
about the channels it read and wrote."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .record import LangGraphTrace

START = "__start__"
END = "__end__"


@dataclass(frozen=True)
class TakenEdge:
    source: str
    target: str
    step: int
    via: str | None = None  # the router's name for a conditional edge


def taken_edges(trace: LangGraphTrace) -> list[TakenEdge]:
    """The edges of the traced graph itself (its subgraphs' steps are nested by namespace)."""
    steps = sorted(
        [s for s in [*trace.steps, *trace.failures] if not s.scope],
        key=lambda s: (s.step, s.state.order),
    )
    routes = [r for r in trace.routes if not r.scope]
    if not steps and not routes:
        return []
    first = min((s.step for s in steps), default=0)
    edges: list[TakenEdge] = []
    for record in steps:
        found = False
        for route in routes:
            if route.step == record.step - 1 and record.node in route.destinations:
                edges.append(TakenEdge(route.source, record.node, record.step, route.router))
                found = True
        # a deferred node waits for every branch: its trigger may have run several steps ago
        since = max(
            (p.step for p in steps if p.node == record.node and p.step < record.step), default=-1
        )
        for prev in steps:
            if prev.exception is not None or prev.interrupted and not prev.goto:
                continue
            if record.node in trace.deferred:
                if not since <= prev.step < record.step:
                    continue
            elif prev.step != record.step - 1:
                continue
            if (prev.node, record.node) in trace.static_edges or record.node in prev.goto:
                edges.append(TakenEdge(prev.node, record.node, record.step))
                found = True
        for starts, end in trace.waiting_edges:
            if end == record.node:
                for start in starts:
                    if any(p.node == start and p.step < record.step for p in steps):
                        edges.append(TakenEdge(start, end, record.step, "join"))
                        found = True
        if not found and record.step == first and not record.send:
            edges.append(TakenEdge(START, record.node, record.step))
    for route in routes:
        if END in route.destinations:
            edges.append(TakenEdge(route.source, END, route.step + 1, route.router))
    for record in steps:
        if record.exception is not None or record.interrupted:
            continue
        # a node without outgoing edges or router, sending nowhere, ends its branch
        dead_end = record.node not in trace.with_edges and not record.goto
        if (record.node, END) in trace.static_edges or END in record.goto or dead_end:
            edges.append(TakenEdge(record.node, END, record.step + 1))
    return edges


def destination(choice: Any, ends: Mapping[Any, str] | None) -> str:
    node = getattr(choice, "node", None)  # a Send packet
    if node is not None and not isinstance(choice, (str, bool, int)):
        return str(node)
    if ends:
        return str(ends.get(choice, choice))
    return str(choice)


def state_keys(state: Any) -> list[str]:
    if isinstance(state, Mapping):
        return [str(k) for k in state]
    fields = getattr(type(state), "model_fields", None)
    if fields is not None:
        return list(fields)
    dataclass_fields = getattr(state, "__dataclass_fields__", None)
    if dataclass_fields is not None:
        return list(dataclass_fields)
    return []


def update_keys(result: Any) -> tuple[str, ...]:
    """The channels a node's return value writes (a dict, a Command, or a list of those)."""
    if result is None:
        return ()
    if isinstance(result, Mapping):
        return tuple(str(k) for k in result)
    if isinstance(result, (list, tuple)):
        keys: list[str] = []
        for item in result:
            keys += [k for k in update_keys(item) if k not in keys]
        return tuple(keys)
    as_tuples = getattr(result, "_update_as_tuples", None)  # a Command
    if callable(as_tuples):
        return tuple(dict.fromkeys(str(k) for k, _ in as_tuples()))
    return tuple(state_keys(result))


def goto_targets(result: Any) -> tuple[str, ...]:
    items = result if isinstance(result, (list, tuple)) else [result]
    targets: list[str] = []
    for item in items:
        goto = getattr(item, "goto", None)
        if goto is None or not hasattr(item, "_update_as_tuples"):
            continue
        for g in goto if isinstance(goto, (list, tuple)) else [goto]:
            targets.append(destination(g, None))
    return tuple(targets)


def channel_writes(result: Any, channels: frozenset[str]) -> dict[str, Any]:
    """A node's return value as the writes LangGraph applies to the graph's channels, in the
    shape of its "tasks" stream (`{channel: value}`, `{channel: {"$writes": [...]}}` for a
    channel written twice); keys the graph has no channel for (a subgraph's private state)
    are not writes."""
    pairs: list[tuple[str, Any]] = []

    def collect(item: Any) -> None:
        if item is None:
            return
        if isinstance(item, Mapping):
            pairs.extend((str(k), v) for k, v in item.items() if str(k) in channels)
        elif isinstance(item, (list, tuple)) and "__root__" not in channels:
            for part in item:
                collect(part)
        elif callable(getattr(item, "_update_as_tuples", None)):  # a Command
            if getattr(item, "graph", None) is None:
                pairs.extend((str(k), v) for k, v in item._update_as_tuples() if k in channels)
        elif "__root__" in channels:
            pairs.append(("__root__", item))
        else:
            pairs.extend((k, getattr(item, k)) for k in state_keys(item) if k in channels)

    collect(result)
    out: dict[str, Any] = {}
    for channel, value in pairs:
        if channel in out:
            old = out[channel]
            many = old["$writes"] if isinstance(old, dict) and "$writes" in old else [old]
            out[channel] = {"$writes": [*many, value]}
        else:
            out[channel] = value
    return out
