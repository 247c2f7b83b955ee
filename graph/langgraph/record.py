"""The record of one traced LangGraph run, built while it runs.

Each executed LangGraph node becomes a step: a `<node>_state` node (the state slice it
received, computed from the steps that last wrote those channels), the chat model calls it
made, and the `<node>` node (its returned update) whose parents are that slice, the parameters
it read and its chat calls. Each router becomes a `route_<source>` decision node. The
`final_state` node depends on the last writers of every channel, so feedback on it reaches
every parameter that shaped the result."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from ..node import INPUT, OPERATION, Node
from ..op import OpInfo
from ..run import Run
from .edges import END, START, TakenEdge, destination, state_keys, taken_edges
from .shape import GraphShape
from .step import (
    CHAT_OP,
    FINAL_OP,
    SEND_OP,
    STATE_OP,
    RouteRecord,
    RouteRecorder,
    StepRecord,
    StepRecorder,
    _with_run,
    scope_of,
    stable_namespace,
)


def _sends(choice: Any, node: str, payload: Any) -> bool:
    return getattr(choice, "node", None) == node and getattr(choice, "arg", None) == payload


def _sent_by(result: Any, node: str, payload: Any) -> bool:
    items = result if isinstance(result, (list, tuple)) else [result]
    for item in items:
        goto = getattr(item, "goto", None)
        for g in goto if isinstance(goto, (list, tuple)) else [goto]:
            if _sends(g, node, payload):
                return True
    return False


def _inner_sources(key: str, writers: list[Node], outer: StepRecord, aggregate: bool) -> list[Node]:
    """Where a subgraph step's channel `key` comes from: the subgraph's own writes during this
    invocation, the parent task's state (the subgraph's input), and writes of its earlier
    invocations (a subgraph compiled with checkpointer=True keeps its state)."""
    start = outer.state.order
    before = [w for w in writers if w.order < start]
    during = [w for w in writers if w.order > start]
    given = [outer.state] if key in state_keys(outer.state._data) else []
    if aggregate:
        return [*before, *given, *during]
    return during[-1:] or given or before[-1:]


def _writers_before(writes: Sequence[tuple[int, Node]], step: int, every: bool) -> list[Node]:
    """The writers of a channel before `step`: all of them (a channel with a reducer), or
    the last one (what a plain channel holds)."""
    if every:
        return [w for s, w in writes if s < step]
    if not writes:
        return []
    last_step, last = writes[-1]
    if last_step < step:  # the common case: the latest write is from an earlier step
        return [last]
    return next(([w] for s, w in reversed(writes) if s < step), [])



class LangGraphTrace:
    """The record of one run of a traced LangGraph graph.

    `input` is the graph input node; `steps` the node executions in order of completion;
    `routes` the routers' decisions; `output` the final-state node (None until the run ends,
    or when it failed); `exception` the exception node of the node that made the run fail.
    `value` is what invoke returned."""

    def __init__(
        self,
        graph_name: str,
        run: Run,
        parameters: Mapping[str, Node],
        graph_input: Any,
        shape: GraphShape,
    ) -> None:
        self.graph_name = graph_name
        self.run = run
        self.parameters = dict(parameters)
        self.shape = shape  # the traced graph's; a subgraph's steps carry their own
        self.steps: list[StepRecord] = []
        self.routes: list[RouteRecord] = []
        self.failures: list[StepRecord] = []
        self.output: Node | None = None
        self.exception: Node | None = None
        self.value: Any = None
        self._lock = threading.Lock()
        # {scope: {channel: [(step, writer), ...]}}, in the order the writes were made
        self._writes: dict[str, dict[str, list[tuple[int, Node]]]] = {}
        self._restored: dict[str, Node] = {}
        self._by_task: dict[str, StepRecord] = {}
        self._by_namespace: dict[str, StepRecord] = {}
        self._root: str | None = None  # the namespace the traced graph runs in
        self.owner: Any = None  # the TracedGraph that made the record
        self.checkpointed = False  # the run has a checkpointer and a thread
        self.resumed_tasks: frozenset[str] = frozenset()  # pending tasks this run resumes
        self.input = _with_run(run, Node.make, graph_input, "graph_input", INPUT)
        self._input_keys = (
            frozenset(graph_input) if isinstance(graph_input, Mapping) else frozenset()
        )

    # -- recording (called from the node wrappers, possibly from several threads) -----------
    def begin_step(
        self,
        node: str,
        step: int,
        task_id: str,
        state: Any,
        op: OpInfo,
        send: bool = False,
        namespace: str = "",
        shape: GraphShape | None = None,
    ) -> StepRecorder:
        checkpoint_ns, namespace = namespace, self.relative(namespace, True)
        scope = scope_of(namespace)
        with self._lock:
            earlier = self._by_task.get(task_id)
        outer = self._outer(scope) if scope else None
        retried: list[Node] = []
        if earlier is not None and earlier.exception is not None:
            # a RetryPolicy runs the task again: one step, its failed attempts kept
            with self._lock:
                self.failures = [f for f in self.failures if f is not earlier]
            slice_node = earlier.state
            retried = [*earlier.failed_attempts, earlier.exception]
        else:
            slice_node = self._slice(node, step, state, send, scope, outer, shape)
        record = StepRecord(
            node=node,
            step=step,
            task_id=task_id,
            state=slice_node,
            namespace=namespace,
            checkpoint_ns=checkpoint_ns,
            send=send,
            shape=shape,
            outer=outer.task_id if outer is not None else "",
            failed_attempts=retried,
            resumed=task_id in self.resumed_tasks,
        )
        with self._lock:
            self._by_task[task_id] = record
            self._by_namespace[namespace] = record
        return StepRecorder(self, record, op)

    def _outer(self, scope: str) -> StepRecord | None:
        """The task that runs the subgraph whose tasks are at namespace `scope`: the task at
        that namespace, or (a subgraph compiled with checkpointer=True, whose namespace has no
        task id) the latest task of that node."""
        with self._lock:
            found = self._by_namespace.get(scope)
            if found is None:
                found = next(
                    (
                        record
                        for namespace, record in reversed(self._by_namespace.items())
                        if stable_namespace(namespace) == scope
                    ),
                    None,
                )
        return found

    def shape_of(self, record: StepRecord) -> GraphShape:
        return record.shape if record.shape is not None else self.shape

    def _slice(
        self,
        node: str,
        step: int,
        state: Any,
        send: bool,
        scope: str,
        outer: StepRecord | None,
        shape: GraphShape | None,
    ) -> Node:
        """The node of the input a task got: its state slice, or its Send payload."""
        data = dict(state) if isinstance(state, Mapping) else state
        if send:
            parents = self._send_parents(node, step, state, scope)
            name, state_op = f"{node}_send", SEND_OP
        else:
            parents = self._state_parents(
                node, step, state_keys(state), state, scope, outer, shape or self.shape
            )
            name, state_op = f"{node}_state", STATE_OP
        return _with_run(self.run, Node.with_parents, data, name, OPERATION, parents, state_op)

    def _state_parents(
        self,
        node: str,
        step: int,
        keys: Sequence[str],
        state: Any,
        scope: str,
        outer: StepRecord | None,
        shape: GraphShape,
    ) -> tuple[tuple[str, Node], ...]:
        aggregate = shape.aggregate
        with self._lock:
            written = self._writes.get(scope, {})
            writes = [_writers_before(written.get(k, ()), step, k in aggregate) for k in keys]
            routes = [
                r
                for r in self.routes
                if r.step == step - 1 and node in r.destinations and r.scope == scope
            ]
        parents: dict[Node, str] = {}  # parent -> the first argument it is the value of
        for key, writers in zip(keys, writes, strict=True):
            if outer is not None:  # a subgraph's step
                chosen = _inner_sources(key, writers, outer, key in aggregate)
            elif writers:
                chosen = writers
            elif key in self._input_keys:
                chosen = [self.input]
            else:
                chosen = []
            for parent in chosen or [self._restored_node(key, state, shape)]:
                parents.setdefault(parent, key)
        for route in routes:
            parents.setdefault(route.decision, "route")
        return tuple((arg, parent) for parent, arg in parents.items())

    def inner_outputs(self, namespace: str) -> list[Node]:
        """The last writer of each channel among the steps of the subgraph run by the task
        at `namespace` (empty for a task that runs no subgraph)."""
        last: dict[str, Node] = {}
        with self._lock:
            if not self._writes or len(self._writes) == 1 and "" in self._writes:
                return []  # no subgraph has written anything
            for scope in dict.fromkeys((namespace, stable_namespace(namespace))):
                for channel, writes in self._writes.get(scope, {}).items():
                    last[channel] = writes[-1][1]
        return list(dict.fromkeys(last.values()))

    def relative(self, namespace: str, of_task: bool = False) -> str:
        """A namespace relative to the traced graph's own (which is not empty when the traced
        graph runs inside a node of another graph). The first task that reports tells it."""
        root = self._root  # set once: read without the lock once it is known
        if root is None:
            with self._lock:
                if self._root is None:
                    self._root = scope_of(namespace) if of_task else namespace
                root = self._root
        if not root:
            return namespace
        if namespace == root:
            return ""
        return namespace[len(root) + 1 :] if namespace.startswith(root + "|") else namespace

    def _send_parents(
        self, node: str, step: int, payload: Any, scope: str = ""
    ) -> tuple[tuple[str, Node], ...]:
        """The decision that sent this payload: a router's Send, or a node's Command(goto=Send)."""
        with self._lock:
            routes = [
                r
                for r in self.routes
                if r.step == step - 1 and node in r.destinations and r.scope == scope
            ]
            steps = [
                s for s in self.steps if s.step == step - 1 and node in s.goto and s.scope == scope
            ]
        exact = [r for r in routes if any(_sends(c, node, payload) for c in r.choices)]
        found = [("send", r.decision) for r in exact or routes]
        for record in steps:
            if record.output is not None and _sent_by(record.output._data, node, payload):
                found.append(("send", record.output))
        return tuple(found) or (("input", self.input),)

    def _restored_node(self, key: str, state: Any, shape: GraphShape) -> Node:
        """A channel value this run did not write: a managed value (fresh each step), a
        channel's default, or (with a checkpointer) a value from an earlier run."""
        value = state.get(key) if isinstance(state, Mapping) else getattr(state, key, None)
        if key in shape.managed:
            return _with_run(self.run, Node.make, value, f"managed_{key}", INPUT)
        with self._lock:
            found = self._restored.get(key)
        if found is None:
            prefix = "restored" if self.checkpointed else "default"
            found = _with_run(self.run, Node.make, value, f"{prefix}_{key}", INPUT)
            with self._lock:
                found = self._restored.setdefault(key, found)
        return found

    def wrote(self, record: StepRecord) -> None:
        assert record.output is not None
        with self._lock:
            self.steps.append(record)
            written = self._writes.setdefault(record.scope, {})
            for key in record.update_keys:
                written.setdefault(key, []).append((record.step, record.output))

    def failed(self, record: StepRecord) -> None:
        with self._lock:
            self.failures.append(record)

    def step_of_task(self, task_id: str) -> StepRecord | None:
        with self._lock:
            return self._by_task.get(task_id)

    def record_route(
        self,
        source: str,
        router: str,
        step: int,
        task_id: str,
        op: OpInfo,
        result: Any,
        ends: Mapping[Any, str] | None,
        reads: Sequence[str],
        chosen_by: str | None = None,
        scope: str = "",
    ) -> RouteRecord:
        choices = tuple(result) if isinstance(result, (list, tuple)) else (result,)
        destinations = tuple(destination(c, ends) for c in choices)
        parents: list[tuple[str, Node]] = []
        source_step = self.step_of_task(task_id)
        if source_step is not None and source_step.output is not None:
            parents.append((source, source_step.output))
        else:
            parents.append(("input", self.input))
        parents += [(name, self.parameters[name]) for name in reads if name in self.parameters]
        data = destinations[0] if len(destinations) == 1 else list(destinations)
        base = "route_start" if source == START else f"route_{source}"
        decision = _with_run(self.run, Node.with_parents, data, base, OPERATION, tuple(parents), op)
        scope = self.relative(scope)
        outer = self._outer(scope) if scope else None
        route = RouteRecord(
            source,
            router,
            step,
            choices,
            destinations,
            decision,
            list(reads),
            chosen_by,
            scope,
            outer.task_id if outer is not None else "",
        )
        with self._lock:
            self.routes.append(route)
        return route

    def finish(self, value: Any, output_keys: Sequence[str]) -> Node:
        """Make the final-state node once the run has returned `value`."""
        with self._lock:
            writes = {k: [w for _, w in ws] for k, ws in self._writes.get("", {}).items()}
            end_routes = [r for r in self.routes if END in r.destinations and not r.scope]
        parents: list[tuple[str, Node]] = []
        seen: set[Node] = set()
        for key in output_keys:
            writers = writes.get(key, [])
            chosen = writers if key in self.shape.aggregate else writers[-1:]
            if not chosen and key in self._input_keys:
                chosen = [self.input]
            for w in chosen:
                if w not in seen:
                    seen.add(w)
                    parents.append((key, w))
        for route in end_routes:
            if route.decision not in seen:
                seen.add(route.decision)
                parents.append(("route", route.decision))
        if not parents:
            parents.append(("input", self.input))
        self.value = value
        self.output = _with_run(
            self.run, Node.with_parents, value, "final_state", OPERATION, tuple(parents), FINAL_OP
        )
        return self.output

    # -- reading ---------------------------------------------------------------------------
    @property
    def executed(self) -> list[str]:
        """The LangGraph nodes in the order they ran (a node in a loop appears each time)."""
        return [s.node for s in sorted(self.steps + self.failures, key=lambda s: s.state.order)]

    @property
    def edges(self) -> list[TakenEdge]:
        """The edges the traced graph actually took, START and END included."""
        return taken_edges(self)

    @property
    def all_edges(self) -> list[TakenEdge]:
        """The edges taken in the traced graph and in every subgraph its tasks ran (each
        edge's `scope` is the namespace of its graph)."""
        return taken_edges(self, None)

    def edges_in(self, where: str | StepRecord) -> list[TakenEdge]:
        """The edges taken in a subgraph: the one a step (a task) ran, or every run of the
        subgraph at namespace `where` (a step's `scope`)."""
        if isinstance(where, StepRecord):
            return taken_edges(self, None, where.task_id)
        return taken_edges(self, where)

    def parameters_read(self) -> dict[str, list[str]]:
        """For each LangGraph node, the parameters it read (in the order first read)."""
        out: dict[str, list[str]] = {}
        for record in [*self.steps, *self.failures]:
            names = out.setdefault(record.node, [])
            names += [n for n in record.parameters_read if n not in names]
        for route in self.routes:
            names = out.setdefault(f"route_{route.source}", [])
            names += [n for n in route.parameters_read if n not in names]
        return out

    def __repr__(self) -> str:
        return f"<LangGraphTrace {self.graph_name}: {' -> '.join(self.executed) or '(no steps)'}>"


__all__ = [
    "CHAT_OP",
    "END",
    "FINAL_OP",
    "SEND_OP",
    "START",
    "STATE_OP",
    "LangGraphTrace",
    "RouteRecord",
    "RouteRecorder",
    "StepRecord",
    "StepRecorder",
    "scope_of",
    "stable_namespace",
]
