"""The graph of a run as a networkx.DiGraph: one graph node per Node (keyed by name), edges
from inputs to the operation that used them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import networkx as nx

from .node import Node
from .preview import preview, type_name
from .run import Run


def node_attributes(n: Node, max_chars: int | None = 200) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "kind": n.kind,
        "name": n.name,
        "data": preview(n._data, max_chars),
        "type": type_name(n._data),
        "op": n.op.name if n.op else None,
        "code": n.op.source if n.op and not n.op.builtin else None,
        "doc": n.op.doc if n.op else None,
    }
    if n.description:
        attrs["description"] = n.description
    if n.constraint:
        attrs["constraint"] = n.constraint
    if n.value_type:
        attrs["value_type"] = n.value_type
    if n.info and "source" in n.info:
        attrs["error_source"] = n.info["source"]
    return attrs


def collect(outputs: Iterable[Node]) -> list[Node]:
    """The outputs and everything they depend on, each once."""
    seen: dict[Node, None] = {}
    for out in outputs:
        seen.update(dict.fromkeys(out.ancestors(include_self=True)))
    return list(seen)


def to_networkx(
    source: Run | Node | Iterable[Node],
    max_chars: int | None = 200,
    nodes: Iterable[Node] | None = None,
) -> nx.DiGraph:
    """Build the DiGraph of a run (its live nodes), of one output, or of several outputs.
    `nodes`, when given, is the exact node set (edges are kept between members only)."""
    if nodes is None:
        if isinstance(source, Run):
            nodes = source.nodes()
        elif isinstance(source, Node):
            nodes = collect([source])
        else:
            nodes = collect(source)
    members = list(nodes)
    member_set = set(members)
    graph = nx.DiGraph()
    for n in members:
        graph.add_node(n.name, **node_attributes(n, max_chars))
    for n in members:
        for arg, parent in n.parents:
            if parent in member_set:
                graph.add_edge(parent.name, n.name, arg=arg)
    return graph
