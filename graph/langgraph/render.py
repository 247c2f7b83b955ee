"""The structure of a LangGraph graph (its `get_graph()`) merged with what a run did: how
often each node ran, which edges were taken (and by which router), which were not, and which
parameters each node read. Rendered as Mermaid or Graphviz DOT."""

from __future__ import annotations

import json
from typing import Any

import networkx as nx

from ..preview import preview
from .record import END, START, LangGraphTrace


def structure_graph(compiled: Any, trace: LangGraphTrace | None = None) -> nx.DiGraph:
    """Nodes: the graph's nodes (kind "start", "end", "node") with `runs`, and parameters
    (kind "parameter") with their value. Edges: `static` (declared), `conditional`, `taken`
    (how many times this run took it), `via` (router names), `reads` (parameter -> node)."""
    drawable = compiled.get_graph()
    graph = nx.DiGraph()
    for node_id in drawable.nodes:
        kind = "start" if node_id == START else "end" if node_id == END else "node"
        graph.add_node(node_id, kind=kind, runs=0, label=node_id)
    for edge in drawable.edges:
        graph.add_edge(
            edge.source,
            edge.target,
            static=True,
            conditional=bool(edge.conditional),
            label=str(edge.data) if edge.data is not None else "",
            taken=0,
            via=[],
        )
    if trace is None:
        return graph
    for name in trace.executed:
        if name not in graph:
            graph.add_node(name, kind="node", runs=0, label=name)
        graph.nodes[name]["runs"] += 1
    for edge in trace.edges:
        for end in (edge.source, edge.target):
            if end not in graph:
                kind = "start" if end == START else "end" if end == END else "node"
                graph.add_node(end, kind=kind, runs=0, label=end)
        if not graph.has_edge(edge.source, edge.target):
            graph.add_edge(
                edge.source,
                edge.target,
                static=False,
                conditional=edge.via is not None,
                label="",
                taken=0,
                via=[],
            )
        attrs = graph.edges[edge.source, edge.target]
        attrs["taken"] += 1
        if edge.via and edge.via not in attrs["via"]:
            attrs["via"].append(edge.via)
    for route in trace.routes:  # a route chosen by a parameter names the choice
        chooser = route.chosen_by
        if chooser is None:
            continue
        for target in route.destinations:
            if graph.has_edge(route.source, target):
                value = trace.parameters[chooser]._data if chooser in trace.parameters else "?"
                graph.edges[route.source, target]["chosen_by"] = f"{chooser}={value!r}"
    for node_name, names in trace.parameters_read().items():
        target = node_name
        if node_name.startswith("route_"):
            target = node_name[len("route_") :]
        if target not in graph:
            continue
        for name in names:
            key = f"param:{name}"
            if key not in graph:
                value = trace.parameters[name]._data if name in trace.parameters else None
                graph.add_node(key, kind="parameter", runs=0, label=name, value=preview(value, 60))
            graph.add_edge(
                key,
                target,
                static=False,
                conditional=False,
                label="reads",
                taken=0,
                via=[],
                reads=True,
            )
    return graph


def _edge_label(attrs: dict[str, Any]) -> str:
    parts = []
    if attrs.get("chosen_by"):
        parts.append(attrs["chosen_by"])
    elif attrs.get("label") and attrs["label"] != "reads":
        parts.append(attrs["label"])
    if attrs.get("taken", 0) > 1:
        parts.append(f"x{attrs['taken']}")
    return " ".join(parts)


def _node_label(attrs: dict[str, Any]) -> str:
    label = str(attrs.get("label", ""))
    if attrs.get("kind") == "parameter":
        return f"{label} = {attrs.get('value', '')}"
    if attrs.get("runs", 0) > 1:
        return f"{label} (ran {attrs['runs']}x)"
    return label


def _text(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace('"', "&quot;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\n", "<br/>")
    )


def structure_to_mermaid(graph: nx.DiGraph) -> str:
    """Mermaid flowchart: taken edges solid, edges not taken dashed, nodes that did not run
    grey, parameters as boxes with dotted edges to the nodes that read them."""
    ids = {name: f"s{i}" for i, name in enumerate(graph.nodes)}
    lines = ["flowchart TD"]
    shapes = {
        "start": ("([", "])"),
        "end": ("([", "])"),
        "parameter": ("[/", "/]"),
        "node": ("(", ")"),
    }
    for name, attrs in graph.nodes(data=True):
        left, right = shapes.get(attrs.get("kind", "node"), ("(", ")"))
        lines.append(f'  {ids[name]}{left}"{_text(_node_label(attrs))}"{right}')
    any_taken = any(a.get("taken") for _, _, a in graph.edges(data=True))
    for a, b, attrs in graph.edges(data=True):
        label = _edge_label(attrs)
        if attrs.get("reads"):
            arrow = "-.->"
        elif attrs.get("taken") or not any_taken:
            arrow = "==>" if attrs.get("taken") else "-->"
        else:
            arrow = "-.->"
        text = f'|"{_text(label)}"|' if label else ""
        lines.append(f"  {ids[a]} {arrow}{text} {ids[b]}")
    ran = [ids[n] for n, k in graph.nodes(data="kind") if k == "node" and graph.nodes[n]["runs"]]
    idle = [
        ids[n] for n, k in graph.nodes(data="kind") if k == "node" and not graph.nodes[n]["runs"]
    ]
    params = [ids[n] for n, k in graph.nodes(data="kind") if k == "parameter"]
    for cls, members, style in (
        ("ran", ran, "fill:#9fc5e8"),
        ("idle", idle, "fill:#eeeeee,color:#999999"),
        ("parameter", params, "fill:#ffd966"),
    ):
        if members and (cls != "idle" or any_taken):
            lines.append(f"  classDef {cls} {style}")
            lines.append(f"  class {','.join(members)} {cls}")
    return "\n".join(lines)


def structure_to_dot(graph: nx.DiGraph) -> str:
    """Graphviz DOT with the same conventions as `structure_to_mermaid`."""
    any_taken = any(a.get("taken") for _, _, a in graph.edges(data=True))
    lines = ["digraph langgraph {", '  node [style=filled, fontname="Helvetica"];']
    for name, attrs in graph.nodes(data=True):
        kind = attrs.get("kind", "node")
        shape = {"start": "circle", "end": "doublecircle", "parameter": "box"}.get(kind, "ellipse")
        colour = (
            "#ffd966"
            if kind == "parameter"
            else ("#9fc5e8" if attrs.get("runs") else ("#eeeeee" if any_taken else "#ffffff"))
        )
        lines.append(
            f"  {json.dumps(name)} [label={json.dumps(_node_label(attrs))}, shape={shape}, "
            f'fillcolor="{colour}"];'
        )
    for a, b, attrs in graph.edges(data=True):
        style = (
            "dotted"
            if attrs.get("reads")
            else ("bold" if attrs.get("taken") else ("dashed" if any_taken else "solid"))
        )
        label = json.dumps(_edge_label(attrs))
        lines.append(f"  {json.dumps(a)} -> {json.dumps(b)} [label={label}, style={style}];")
    lines.append("}")
    return "\n".join(lines)
