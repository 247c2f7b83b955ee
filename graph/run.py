"""Per-run tracing state, held in ContextVars so threads and asyncio tasks never share it.

There is no registry of nodes at all: a Run only hands out names and creation numbers, so a
graph is freed as soon as nothing refers to its nodes.
"""

from __future__ import annotations

import gc
import itertools
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

from .errors import GraphError

if TYPE_CHECKING:
    from .node import Node


class Run:
    """The scope in which nodes are named. Names are `base` for the first node of that base
    name and `base:k` after it, so they are stable for the same sequence of operations."""

    def __init__(self, name: str = "run") -> None:
        self.name = name
        # next() on an itertools.count and dict.setdefault are atomic in CPython, so threads
        # sharing a run still get unique names without a lock on the hot path.
        self._counts: dict[str, itertools.count[int]] = {}
        self._order = itertools.count()
        self.feedback_lock = threading.Lock()  # guards backward()'s updates of node.feedback
        self._token: Token[Run | None] | None = None

    def admit(self, node: Node, base: str) -> None:
        """Give a new node its unique name and its creation order, and make it this run's.
        (One call per node: it is on the tracer's hot path.)"""
        counter = self._counts.get(base)
        if counter is None:
            counter = self._counts.setdefault(base, itertools.count())
        k = next(counter)
        node.name = base if k == 0 else f"{base}:{k}"
        node.order = next(self._order)
        node.run = self  # last: a node is found by nodes() only once it is named and numbered

    def get(self, name: str) -> Node | None:
        """The live node of this run with that name, if any."""
        return next((n for n in self.nodes() if n.name == name), None)

    def nodes(self) -> list[Node]:
        """The nodes of this run still alive, in creation (topological) order.

        They are found by asking CPython's gc which objects refer to this run (every node
        does, through `node.run`): one scan of the heap when a whole run is wanted, which is
        rare (drawing it), instead of a weak reference per node kept on the tracer's hot
        path. Dropping those made tracing about 10 % faster at 100k operations, with one
        object less per node for the gc to track (benchmarks/engine_vs_trace.py)."""
        from .node import Node

        alive = [n for n in gc.get_referrers(self) if isinstance(n, Node) and n.run is self]
        return sorted(alive, key=lambda n: n.order)

    def __enter__(self) -> Run:
        self._token = _current_run.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _current_run.reset(self._token)
            self._token = None


_current_run: ContextVar[Run | None] = ContextVar("optograph_run", default=None)
_tracing: ContextVar[bool] = ContextVar("optograph_tracing", default=True)
# While a bundled function runs, the nodes whose .data it reads are collected here so that
# inputs it did not receive as arguments can be recorded (or reported).
_data_reads: ContextVar[set[Node] | None] = ContextVar("optograph_data_reads", default=None)
# Parameters that read as other values in this thread or task (see `parameter_values`).
_parameter_values: ContextVar[Mapping[Node, Any] | None] = ContextVar(
    "optograph_parameter_values", default=None
)


def current_run() -> Run:
    """The run of the current thread or task, created on first use."""
    run = _current_run.get()
    if run is None:
        run = Run()
        _current_run.set(run)
    return run


def is_tracing() -> bool:
    return _tracing.get()


@contextmanager
def no_trace() -> Iterator[None]:
    """Inside this block, bundled functions and operators on nodes compute on plain values
    and return plain values: nothing is added to any graph."""
    token = _tracing.set(False)
    try:
        yield
    finally:
        _tracing.reset(token)


@contextmanager
def collect_data_reads() -> Iterator[set[Node]]:
    reads: set[Node] = set()
    token = _data_reads.set(reads)
    try:
        yield reads
    finally:
        _data_reads.reset(token)


def note_data_read(node: Node) -> None:
    reads = _data_reads.get()
    if reads is not None:
        reads.add(node)


@contextmanager
def parameter_values(values: Mapping[Node, Any]) -> Iterator[None]:
    """Inside this block, in this thread or task (and in the work it starts with a copy of its
    context, as the executor does), the given parameters read as these values, however the
    engine reads them; everywhere else, and after the block, they keep their shared value.
    This is how the candidates of one optimizer step are evaluated at once, each in a graph
    of its own, without changing the parameters the others read. Blocks nest (the inner
    values win); `set` inside a block still sets the shared value."""
    from .node import PARAMETER, _check_value

    for node, value in values.items():
        if getattr(node, "kind", None) != PARAMETER:
            name = getattr(node, "name", repr(node))
            raise GraphError(f"parameter_values: node {name!r} is not a parameter")
        _check_value(value, node.name)
    outer = _parameter_values.get()
    token = _parameter_values.set({**outer, **values} if outer else dict(values))
    try:
        yield
    finally:
        _parameter_values.reset(token)


def in_parameter_values() -> bool:
    """Whether this thread or task runs inside a `parameter_values` block: evaluating other
    values for the parameters (a candidate of the current step), not a step of its own."""
    return bool(_parameter_values.get())
