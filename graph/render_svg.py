"""A graph drawn as a standalone SVG, in pure Python: a layered layout of a directed graph
(each node one layer below its deepest input, nodes ordered within a layer by where their
inputs sit), boxes coloured by kind, arrows from input to output. No Graphviz, no browser
script, no network: the text can be inlined in an HTML page or written to a .svg file."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import networkx as nx

from .render import KIND_COLOURS

CHAR_W = 7.0  # average width of a 12px sans-serif character
LINE_H = 15.0
PAD_X, PAD_Y = 8.0, 6.0
GAP_X, GAP_Y = 24.0, 46.0
MARGIN = 12.0
_EXTRA_COLOURS = {"start": "#b6d7a8", "end": "#b6d7a8", "node": "#9fc5e8", "step": "#9fc5e8"}

Labeller = Callable[[str, dict[str, Any]], list[str]]


def default_label(name: str, attrs: dict[str, Any], max_chars: int = 36) -> list[str]:
    """A node's box text: its name, then a preview of its value."""
    lines = [str(attrs.get("label") or attrs.get("name") or name)]
    data = attrs.get("data")
    if data not in (None, ""):
        text = " ".join(str(data).split())
        lines.append(text if len(text) <= max_chars else text[: max_chars - 3] + "...")
    return [line[:max_chars] for line in lines]


def layers(graph: nx.DiGraph) -> list[list[str]]:
    """Nodes by layer: a node sits one layer below its deepest input (cycles, which a trace
    never has, are broken by ignoring the edges that close them)."""
    dag = graph if nx.is_directed_acyclic_graph(graph) else _acyclic(graph)
    depth: dict[str, int] = {}
    for node in nx.topological_sort(dag):
        depth[node] = max((depth[p] + 1 for p in dag.predecessors(node)), default=0)
    rows: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for node in graph.nodes:  # insertion order first: a stable drawing of the same graph
        rows[depth[node]].append(node)
    position: dict[str, float] = {}
    for row in rows:  # order a layer by the mean position of its inputs (fewer crossings)
        row.sort(key=lambda n: _mean([position[p] for p in dag.predecessors(n) if p in position],
                                     default=len(position)))
        for index, node in enumerate(row):
            position[node] = float(index)
    return rows


def _acyclic(graph: nx.DiGraph) -> nx.DiGraph:
    dag = nx.DiGraph()
    dag.add_nodes_from(graph.nodes)
    seen: set[str] = set()
    for source in graph.nodes:
        if source in seen:
            continue
        for a, b, kind in nx.dfs_labeled_edges(graph, source):
            seen.add(b)
            if kind == "forward" and a != b:
                dag.add_edge(a, b)
    return dag


def _mean(values: list[float], default: float) -> float:
    return sum(values) / len(values) if values else default


def to_svg(graph: nx.DiGraph, label: Labeller | None = None, title: str = "",
           ident: str = "og") -> str:
    """The graph as an <svg> element. `label(name, attrs)` gives each box's lines of text;
    a node's `kind` attribute picks its colour; an edge's `label` attribute is written
    beside it (a count of taken edges, an argument name). `ident` prefixes the element ids
    (give each SVG of one page its own)."""
    label = label or default_label
    rows = layers(graph)
    texts = {n: label(n, dict(graph.nodes[n])) for n in graph.nodes}
    size = {
        n: (max(len(line) for line in lines) * CHAR_W + 2 * PAD_X, len(lines) * LINE_H + 2 * PAD_Y)
        for n, lines in texts.items()
    }
    widths = [sum(size[n][0] for n in row) + GAP_X * (len(row) - 1) for row in rows]
    width = max(widths, default=0.0) + 2 * MARGIN
    box: dict[str, tuple[float, float, float, float]] = {}
    y = MARGIN + (LINE_H if title else 0.0)
    for row, row_width in zip(rows, widths, strict=True):
        x = (width - row_width) / 2
        height = max(size[n][1] for n in row)
        for n in row:
            w, h = size[n]
            box[n] = (x, y + (height - h) / 2, w, h)
            x += w + GAP_X
        y += height + GAP_Y
    total_height = y - GAP_Y + MARGIN
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{total_height:.0f}" '
        f'viewBox="0 0 {width:.0f} {total_height:.0f}" font-family="sans-serif" font-size="12">',
        f"<defs><marker id=\"{_esc(ident)}-arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" "
        "markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">"
        "<path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>",
    ]
    if title:
        out.append(f'<text x="{MARGIN}" y="{MARGIN + 10}" font-weight="bold">{_esc(title)}</text>')
    for a, b, attrs in graph.edges(data=True):
        out.append(_edge(box[a], box[b], str(attrs.get("label") or ""), f"{ident}-arrow"))
    for n in graph.nodes:
        out.append(_box(n, box[n], texts[n], str(graph.nodes[n].get("kind", ""))))
    out.append("</svg>")
    return "\n".join(out)


def _edge(a: tuple[float, float, float, float], b: tuple[float, float, float, float],
          text: str, marker: str) -> str:
    x1, y1 = a[0] + a[2] / 2, a[1] + a[3]
    x2, y2 = b[0] + b[2] / 2, b[1]
    if y2 <= y1:  # an edge to the same or an upper layer: from the side, curved
        x1, y1 = a[0] + a[2], a[1] + a[3] / 2
        x2, y2 = b[0] + b[2], b[1] + b[3] / 2
        bend = max(x1, x2) + 40
        path = f"M {x1:.1f} {y1:.1f} C {bend:.1f} {y1:.1f} {bend:.1f} {y2:.1f} {x2:.1f} {y2:.1f}"
    else:
        middle = (y1 + y2) / 2
        path = f"M {x1:.1f} {y1:.1f} C {x1:.1f} {middle:.1f} {x2:.1f} {middle:.1f} {x2:.1f} {y2:.1f}"
    line = (f'<path d="{path}" fill="none" stroke="#555" stroke-width="1.2" '
            f'marker-end="url(#{_esc(marker)})"/>')
    if text:
        line += (f'<text x="{(x1 + x2) / 2 + 4:.1f}" y="{(y1 + y2) / 2:.1f}" fill="#555" '
                 f'font-size="10">{_esc(text)}</text>')
    return line


def _box(name: str, where: tuple[float, float, float, float], lines: list[str], kind: str) -> str:
    x, y, w, h = where
    colour = KIND_COLOURS.get(kind) or _EXTRA_COLOURS.get(kind, "#ffffff")
    radius = 12 if kind in ("input", "start", "end") else 4
    parts = [f"<g><title>{_esc(name)}</title>",
             f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="{radius}" '
             f'fill="{colour}" stroke="#444"/>']
    for i, line in enumerate(lines):
        weight = ' font-weight="bold"' if i == 0 else ""
        parts.append(f'<text x="{x + PAD_X:.1f}" y="{y + PAD_Y + (i + 0.8) * LINE_H:.1f}"'
                     f"{weight}>{_esc(line)}</text>")
    parts.append("</g>")
    return "".join(parts)


def _esc(text: str) -> str:
    return html.escape(text, quote=True)
