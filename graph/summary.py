"""The structured summary an optimizer renders: the minimal subgraph between the parameters
and the outputs that received feedback, split into code, documentation, variables, inputs,
others, outputs and feedback."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from operator import attrgetter
from typing import Any

import networkx as nx

from .errors import GraphError
from .networkx_view import to_networkx
from .node import EXCEPTION, PARAMETER, Feedback, Node
from .op import BINARY_ARGS, LEFT_ARG
from .preview import preview, type_name


@dataclass
class Variable:
    name: str
    type: str
    value: Any
    description: str | None
    constraint: str | None


@dataclass
class Summary:
    variables: dict[str, Variable] = field(default_factory=dict)
    code: list[str] = field(default_factory=list)
    documentation: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    others: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    feedback: list[tuple[str, str]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    omitted_nodes: int = 0
    nodes: list[Node] = field(default_factory=list, repr=False)
    max_chars: int | None = 500

    @cached_property
    def graph(self) -> nx.DiGraph:
        """The subgraph (with its inputs) as a DiGraph, built on first use: an optimizer that
        only reads the text sections never pays for it."""
        return to_networkx([], max_chars=self.max_chars, nodes=self.nodes)

    def feedback_text(self) -> str:
        if len(self.feedback) == 1:
            return self.feedback[0][1]
        return "\n".join(f"{name}: {text}" for name, text in self.feedback)


def _feedback_items(parameters: Iterable[Node]) -> list[Feedback]:
    """Each feedback item once (feedback and nodes hash by identity), in the order given."""
    return list(dict.fromkeys(item for p in parameters for item in p.feedback))


def feedback_outputs(parameters: Iterable[Node]) -> list[Node]:
    """The outputs whose feedback reached these parameters, in the order it was given."""
    return list(dict.fromkeys(item.output for item in _feedback_items(parameters)))


def minimal_subgraph(parameters: Sequence[Node], outputs: Sequence[Node]) -> list[Node]:
    """The nodes that depend on some parameter and that some output depends on, in
    topological order (inputs before the operations that use them)."""
    reached = set(parameters)
    kept = []
    for n in topological(outputs):  # a node's inputs come before it
        if n in reached:
            kept.append(n)
            continue
        for parent in n.inputs:
            if parent in reached:
                reached.add(n)
                kept.append(n)
                break
    return kept


_creation_order = attrgetter("order")


def topological(outputs: Sequence[Node]) -> list[Node]:
    """Every node the outputs depend on, inputs first.

    Within one run, creation order is a topological order (a node is made after its
    inputs): the ancestors are collected in a set with a plain stack and sorted by it. A
    set of nodes hashes them by address without reading them, so a 100k-node graph is
    walked with one read of each node, and no per-node stack frames make CPython's gc
    rescan the heap. A graph that mixes runs (whose numbers repeat) is ordered by a
    depth-first search instead."""
    if not outputs:
        return []
    run = outputs[0].run
    seen = set(outputs)
    stack = list(seen)
    while stack:
        current = stack.pop()
        if current.run is not run:  # each node is popped once, so each is checked
            return _depth_first(outputs)
        for parent in current.inputs:
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return sorted(seen, key=_creation_order)


def _depth_first(outputs: Sequence[Node]) -> list[Node]:
    """Topological order by iterative post-order DFS (for graphs that span runs)."""
    order: list[Node] = []
    seen: set[Node] = set()
    for out in outputs:
        if out in seen:
            continue
        seen.add(out)
        stack = [(out, iter(out.inputs))]
        while stack:
            current, pending = stack[-1]
            for parent in pending:  # resumes where this node's inputs were left
                if parent not in seen:
                    seen.add(parent)
                    stack.append((parent, iter(parent.inputs)))
                    break
            else:
                stack.pop()
                order.append(current)
    return order


def code_line(n: Node, max_chars: int | None = 200) -> str:
    """`name = op(arg=input, ...)`, constants inline, hidden reads and code noted after `#`.
    (Written for speed: it runs once per operation of every summary.)"""
    op = n.op
    assert op is not None
    names = n.input_names
    if names is BINARY_ARGS:  # the commonest line: `x + y`
        a, b = n.inputs
        return f"{n.name} = {op.name}(a={a.name}, b={b.name})"
    if names is LEFT_ARG and n.constants is not None:  # `x + 1`
        right = _constant(n.constants["b"], max_chars)
        return f"{n.name} = {op.name}(a={n.inputs[0].name}, b={right})"
    args = []
    notes = []
    for arg, parent in zip(n.input_names, n.inputs, strict=False):  # equal lengths by make()
        if arg == "__code":
            notes.append("code: " + parent.name)
        elif arg.startswith("hidden:"):
            notes.append("reads " + parent.name)
        else:
            args.append(arg + "=" + parent.name)
    if n.constants:
        args += [f"{k}={_constant(v, max_chars)}" for k, v in n.constants.items()]
    line = f"{n.name} = {op.name}({', '.join(args)})"
    return line + "  # " + "; ".join(notes) if notes else line


def _constant(value: Any, max_chars: int | None) -> str:
    text = repr(value)
    return text if max_chars is None or len(text) <= max_chars else preview(text, max_chars)


def summarize(
    parameters: Iterable[Node],
    max_nodes: int | None = None,
    max_chars: int | None = 500,
) -> Summary:
    """Summarize the graph that connects `parameters` to the outputs their feedback came from.

    max_nodes caps the operations shown (the first and last halves are kept, the middle is
    replaced by a marker); max_chars truncates each value shown (marked "...(truncated)")."""
    params = list(parameters)
    for p in params:
        if not isinstance(p, Node) or p.kind != PARAMETER:
            raise GraphError(f"summarize() takes parameters (trainable nodes); got {p!r:.80}")
    outputs = feedback_outputs(params)
    sub = minimal_subgraph(params, outputs)
    in_sub = set(sub)
    summary = Summary()
    for p in params:
        summary.variables[p.name] = Variable(p.name, type_name(p._data), p._data, p.description, p.constraint)

    operations = [n for n in sub if n.op is not None]
    shown, summary.omitted_nodes = _cap(operations, max_nodes)
    output_set = set(outputs)
    code, documentation, inputs = summary.code, summary.documentation, summary.inputs
    boundary: dict[Node, None] = {}  # nodes outside the subgraph that feed into it, in order
    for n in shown:
        op = n.op
        assert op is not None
        code.append(code_line(n, max_chars))
        if op.name not in documentation:
            documentation[op.name] = op.doc or "(no documentation)"
        if n.kind == EXCEPTION and n.info:
            summary.errors[n.name] = n.info.get("source") or n.info.get("message", "")
        target = summary.outputs if n in output_set else summary.others
        target[n.name] = preview(n._data, max_chars)
        for parent in n.inputs:
            if parent not in in_sub:
                boundary[parent] = None
                if parent.kind != PARAMETER and parent.name not in inputs and not _is_code(n, parent):
                    inputs[parent.name] = preview(parent._data, max_chars)
    if summary.omitted_nodes:  # the graph keeps the inputs of the operations not shown too
        boundary.update(dict.fromkeys(_input_nodes(sub, in_sub)))
    if max_nodes is not None and summary.omitted_nodes:
        half = len(shown) // 2
        summary.code.insert(half, f"# ... {summary.omitted_nodes} operations omitted ...")
    for out in outputs:
        if out.op is None:  # an output that is itself a parameter or an input
            summary.outputs.setdefault(out.name, preview(out._data, max_chars))
    for item in _feedback_items(params):
        summary.feedback.append((item.output.name, item.text()))
    summary.nodes = [*sub, *boundary]
    summary.max_chars = max_chars
    return summary


def _is_code(n: Node, parent: Node) -> bool:
    """Whether `parent` is the code parameter of `n`'s call rather than an argument."""
    return any(arg == "__code" and p is parent for arg, p in zip(n.input_names, n.inputs, strict=False))


def _input_nodes(sub: list[Node], in_sub: set[Node]) -> list[Node]:
    seen: dict[Node, None] = {}
    for n in sub:
        for parent in n.inputs:
            if parent not in in_sub:
                seen[parent] = None
    return list(seen)


def _cap(operations: list[Node], max_nodes: int | None) -> tuple[list[Node], int]:
    if max_nodes is None or len(operations) <= max_nodes:
        return operations, 0
    head = max_nodes // 2
    tail = max_nodes - head
    kept = operations[:head] + (operations[-tail:] if tail else [])
    return kept, len(operations) - len(kept)
