"""The graph section of the HTML report, drawn as inline SVG by the project (no Graphviz, no
script, no network).

A LangGraph workflow is drawn at the level of its LangGraph nodes: one box per node
execution (a step), with arrows from the steps whose writes it read, reduced to the direct
ones (so a retry loop reads classify -> answer -> check -> answer -> check), and, on demand
(one <details> per step), the operations of that step: its state slice, chat calls, update
and router decision with the parameters they read. Any other workflow is drawn at the level
of its operations."""

from __future__ import annotations

import html
from typing import Any

import networkx as nx

from optograph.graph.render_svg import default_label, to_svg

# operation names a traced LangGraph run gives its nodes (as stored in the step's graph):
# the state slice a LangGraph node received, a chat call inside it, the final state
STATE_OP, CHAT_OP, FINAL_OP = "read_state", "chat_model", "final_state"
MAX_NODES = 300  # larger graphs are not drawn (the JSON of every step is stored)
MAX_DETAILS = 60


def langgraph_steps(graph: nx.DiGraph) -> tuple[nx.DiGraph, dict[str, list[str]]] | None:
    """(the step-level graph, the operation nodes of each step) of a traced LangGraph run,
    or None when the graph holds no LangGraph step."""
    slices = [n for n, op in graph.nodes(data="op") if op == STATE_OP]
    if not slices:
        return None
    step_of: dict[str, str] = {}
    members: dict[str, list[str]] = {}
    steps = nx.DiGraph()
    for s in slices:
        readers = [m for m in graph.successors(s) if graph.edges[s, m].get("arg") == "state"]
        chats = [m for m in readers if graph.nodes[m].get("op") == CHAT_OP]
        results = [m for m in readers if graph.nodes[m].get("op") not in (CHAT_OP, STATE_OP)]
        members[s] = [s, *chats, *results]
        for m in members[s]:
            step_of[m] = s
        result = graph.nodes[results[0]] if results else {}
        name = str(result.get("op") or str(graph.nodes[s].get("name", s)).removesuffix("_state"))
        reads = sorted({str(p) for m in members[s] for p in graph.predecessors(m)
                        if graph.nodes[p].get("kind") == "parameter"})
        steps.add_node(s, label=name.split(":")[0], kind=result.get("kind") or "step",
                       data=result.get("data", ""), reads=reads,
                       result=results[0] if results else s)
    for n in nx.topological_sort(graph) if nx.is_directed_acyclic_graph(graph) else graph.nodes:
        attrs = graph.nodes[n]
        if n in step_of or attrs.get("kind") == "parameter":
            continue
        if attrs.get("kind") == "input" or attrs.get("op") == FINAL_OP:
            label = "input" if attrs.get("kind") == "input" else "final state"
            steps.add_node(n, label=label, kind="start" if label == "input" else "end",
                           data="", reads=[])
            step_of[n] = n
            continue
        owner = next((step_of[p] for p in graph.predecessors(n) if p in step_of), None)
        if owner is not None:  # a router's decision after a step, a bundle inside it
            members.setdefault(owner, []).append(n)
            step_of[n] = owner
    for a, b in graph.edges:
        sa, sb = step_of.get(a), step_of.get(b)
        if sa is not None and sb is not None and sa != sb:
            steps.add_edge(sa, sb)
    if nx.is_directed_acyclic_graph(steps):
        reduced = nx.transitive_reduction(steps)
        reduced.add_nodes_from(steps.nodes(data=True))
        steps = reduced
    return steps, members


def _step_label(name: str, attrs: dict[str, Any]) -> list[str]:
    lines = default_label(name, attrs)
    if attrs.get("reads"):
        lines.append(("reads " + ", ".join(attrs["reads"]))[:36])
    return lines


def _too_large(graph: nx.DiGraph) -> str:
    return (f"<p>The graph has {graph.number_of_nodes()} nodes: too many to draw "
            "(its JSON is stored with the step).</p>")


def graph_html(graph: nx.DiGraph, ident: str = "graph") -> str:
    """The graph as HTML with inline SVG: LangGraph steps with their operations on demand,
    or the operations."""
    found = langgraph_steps(graph)
    if found is None:
        if graph.number_of_nodes() > MAX_NODES:
            return _too_large(graph)
        return f'<div class="graph">{to_svg(graph, ident=ident)}</div>'
    steps, members = found
    if steps.number_of_nodes() > MAX_NODES:
        return _too_large(steps)
    parts = ["<p>One box per LangGraph node run (arrows: the steps whose writes it read). "
             "Open a step for its operations.</p>",
             f'<div class="graph">{to_svg(steps, label=_step_label, ident=ident)}</div>']
    shown = [s for s in steps.nodes if s in members][:MAX_DETAILS]
    for index, step in enumerate(shown):
        inner = set(members[step])
        context = {p for m in inner for p in graph.predecessors(m)}
        sub = graph.subgraph(inner | context).copy()
        label = html.escape(str(steps.nodes[step]["label"]))
        node = html.escape(str(steps.nodes[step].get("result", step)))
        parts.append(f"<details><summary>step {label} ({node}): "
                     f"{len(inner)} operations</summary>"
                     f'<div class="graph">{to_svg(sub, ident=f"{ident}-s{index}")}</div>'
                     "</details>")
    if len(shown) < len(members):
        parts.append(f"<p>({len(members) - len(shown)} more steps not drawn.)</p>")
    return "\n".join(parts)
