"""Text renderings of a graph or a summary: Graphviz DOT, Mermaid, and node-link JSON."""

from __future__ import annotations

import json
from typing import Any

import networkx as nx

from .summary import Summary

_SHAPES = {"parameter": "box", "input": "ellipse", "operation": "oval", "exception": "octagon"}
KIND_COLOURS = {"parameter": "#ffd966", "input": "#d9d9d9", "operation": "#9fc5e8", "exception": "#ea9999"}


def _graph(source: nx.DiGraph | Summary) -> nx.DiGraph:
    return source.graph if isinstance(source, Summary) else source


def _label(attrs: dict[str, Any], max_chars: int) -> str:
    data = str(attrs.get("data", ""))
    if len(data) > max_chars:
        data = data[: max_chars - 3] + "..."
    return f"{attrs.get('name')}\n{data}"


def to_dot(source: nx.DiGraph | Summary, max_chars: int = 40) -> str:
    """Graphviz DOT text (render with `dot -Tsvg`)."""
    graph = _graph(source)
    lines = ["digraph optograph {", "  rankdir=TB;", '  node [style=filled, fontname="Helvetica"];']
    for name, attrs in graph.nodes(data=True):
        kind = attrs.get("kind", "operation")
        label = json.dumps(_label(attrs, max_chars))
        lines.append(
            f"  {json.dumps(name)} [label={label}, shape={_SHAPES.get(kind, 'oval')}, "
            f'fillcolor="{KIND_COLOURS.get(kind, "#ffffff")}"];'
        )
    for a, b, attrs in graph.edges(data=True):
        lines.append(f"  {json.dumps(a)} -> {json.dumps(b)} [label={json.dumps(attrs.get('arg', ''))}];")
    lines.append("}")
    return "\n".join(lines)


def _mermaid_id(index: int) -> str:
    return f"n{index}"


def _mermaid_text(text: str) -> str:
    # Mermaid labels are quoted; quotes and angle brackets inside must be entities.
    return (
        text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
        .replace(">", "&gt;").replace("\n", "<br/>")
    )


def to_mermaid(source: nx.DiGraph | Summary, max_chars: int = 40) -> str:
    """Mermaid flowchart text (renders on GitHub and in the HTML report)."""
    graph = _graph(source)
    ids = {name: _mermaid_id(i) for i, name in enumerate(graph.nodes)}
    brackets = {"parameter": ("[", "]"), "input": ("([", "])"), "exception": ("{{", "}}")}
    lines = ["flowchart TD"]
    for name, attrs in graph.nodes(data=True):
        left, right = brackets.get(attrs.get("kind", ""), ("(", ")"))
        lines.append(f'  {ids[name]}{left}"{_mermaid_text(_label(attrs, max_chars))}"{right}')
    for a, b in graph.edges():
        lines.append(f"  {ids[a]} --> {ids[b]}")
    for kind, colour in KIND_COLOURS.items():
        members = [ids[n] for n, k in graph.nodes(data="kind") if k == kind]
        if members:
            lines.append(f"  classDef {kind} fill:{colour}")
            lines.append(f"  class {','.join(members)} {kind}")
    return "\n".join(lines)


def to_json(source: nx.DiGraph | Summary) -> str:
    """networkx node-link JSON (what d3 and most graph viewers read)."""
    data = nx.node_link_data(_graph(source), edges="links")
    return json.dumps(data, default=str, indent=1)
