"""The record of one traced LangGraph run, built while it runs.

Each executed LangGraph node becomes a step: a `<node>_state` node (the state slice it
received, computed from the steps that last wrote those channels), the chat model calls it
made, and the `<node>` node (its returned update) whose parents are that slice, the parameters
it read and its chat calls. Each router becomes a `route_<source>` decision node. The
`final_state` node depends on the last writers of every channel, so feedback on it reaches
every parameter that shaped the result."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..node import INPUT, OPERATION, Node
from ..op import OpInfo, record_failure
from ..run import Run, _current_run
from .edges import (
    END,
    START,
    TakenEdge,
    channel_writes,
    destination,
    goto_targets,
    state_keys,
    taken_edges,
)

STATE_OP = OpInfo(
    name="read_state",
    doc="The state slice a LangGraph node receives: each channel's value as written by the "
    "steps (or the graph input) it comes from.",
    builtin=True,
)
FINAL_OP = OpInfo(
    name="final_state",
    doc="The state the LangGraph run ended with (what invoke returns).",
    builtin=True,
)
CHAT_OP = OpInfo(
    name="chat_model",
    doc="A chat model call made inside a LangGraph node: the messages in (constant "
    "`messages`), the reply text out.",
    builtin=True,
)


SEND_OP = OpInfo(
    name="send",
    doc="The payload of a LangGraph Send: the whole input of the task it starts.",
    builtin=True,
)


def scope_of(namespace: str) -> str:
    return namespace.rsplit("|", 1)[0] if "|" in namespace else ""


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


def _with_run(run: Run, make: Any, *args: Any, **kwargs: Any) -> Any:
    """Create nodes in `run` (the caller's naming scope), whatever thread LangGraph uses."""
    token = _current_run.set(run)
    try:
        return make(*args, **kwargs)
    finally:
        _current_run.reset(token)


@dataclass
class StepRecord:
    """One execution of a LangGraph node."""

    node: str
    step: int
    task_id: str
    state: Node
    parameters_read: list[str] = field(default_factory=list)
    chats: list[Node] = field(default_factory=list)
    output: Node | None = None
    exception: Node | None = None
    update_keys: tuple[str, ...] = ()
    goto: tuple[str, ...] = ()
    namespace: str = ""  # the task's namespace, relative to the traced graph's run
    checkpoint_ns: str = ""  # LangGraph's checkpoint namespace of the task (absolute)
    send: bool = False  # a task started by a Send: its input is the Send's payload
    interrupted: bool = False  # the task paused in interrupt() (or handed off to the parent)
    writes: dict[str, Any] = field(default_factory=dict)  # {channel: value written}
    channels: frozenset[str] = frozenset()  # the channels of the (sub)graph the task is in

    @property
    def scope(self) -> str:
        """The namespace of the graph the task ran in: "" for the traced graph, the parent
        task's namespace for a task of a subgraph."""
        return scope_of(self.namespace)


@dataclass
class RouteRecord:
    """One decision of a router (a conditional edge) after `source`."""

    source: str
    router: str
    step: int
    choices: tuple[Any, ...]
    destinations: tuple[str, ...]
    decision: Node
    parameters_read: list[str] = field(default_factory=list)
    chosen_by: str | None = None  # the parameter a parameter_route router follows
    scope: str = ""  # the namespace of the graph the router belongs to ("" at the top)


class StepRecorder:
    """Collects what one node execution reads and calls while it runs."""

    def __init__(self, trace: LangGraphTrace, record: StepRecord, op: OpInfo) -> None:
        self.trace = trace
        self.record = record
        self.op = op
        self._lock = threading.Lock()

    def read_parameter(self, name: str) -> None:
        with self._lock:
            if name not in self.record.parameters_read:
                self.record.parameters_read.append(name)

    def _parameter_parents(self, names: Iterable[str] | None = None) -> list[tuple[str, Node]]:
        params = self.trace.parameters
        chosen = self.record.parameters_read if names is None else names
        return [(name, params[name]) for name in chosen if name in params]

    def chat_finished(self, messages: list[str], reply: str, model: str) -> None:
        parents = [("state", self.record.state), *self._parameter_parents()]
        parents += [("previous_reply", c) for c in self.record.chats[-1:]]
        constants = {"model": model, "messages": messages}
        node = _with_run(
            self.trace.run,
            Node.with_parents,
            reply,
            f"{self.record.node}_llm",
            OPERATION,
            tuple(parents),
            CHAT_OP,
            constants=constants,
        )
        with self._lock:
            self.record.chats.append(node)

    def chat_failed(self, messages: list[str], exc: BaseException, model: str) -> None:
        parents = (("state", self.record.state), *self._parameter_parents())
        error = _with_run(
            self.trace.run,
            record_failure,
            CHAT_OP,
            parents,
            {"model": model, "messages": messages},
            exc,
        )
        with self._lock:
            self.record.chats.append(error.exception_node)

    def _parents(self, hidden: Iterable[Node], code: Node | None) -> tuple[tuple[str, Node], ...]:
        parents: list[tuple[str, Node]] = [("__code", code)] if code is not None else []
        parents.append(("state", self.record.state))
        parents += self._parameter_parents()
        known = {p for _, p in parents}
        parents += [(n.name, n) for n in hidden if n not in known]
        parents += [("llm", c) for c in self.record.chats]
        # a subgraph node: what its own steps wrote last, channel by channel
        inner = self.trace.inner_outputs(self.record.namespace)
        parents += [(n.name, n) for n in inner if n not in known]
        return tuple(parents)

    def finish(self, result: Any, hidden: Iterable[Node] = (), code: Node | None = None) -> None:
        self.record.writes = channel_writes(result, self.record.channels or self.trace.channels)
        self.record.update_keys = tuple(self.record.writes)
        self.record.goto = goto_targets(result)
        self.record.output = _with_run(
            self.trace.run,
            Node.with_parents,
            result,
            self.record.node,
            OPERATION,
            self._parents(hidden, code),
            self.op,
        )
        self.trace.wrote(self.record)

    def bubble_up(self, exc: BaseException, hidden: Iterable[Node] = ()) -> None:
        """The task stopped in `interrupt()` or handed a Command to the parent graph."""
        command = exc.args[0] if exc.args else None
        handled_here = False
        if hasattr(command, "_update_as_tuples"):  # Command(graph=Command.PARENT)
            self.record.goto = goto_targets(command)
            value: Any = command
            # LangGraph applies it as this task's result when the task is the parent graph's
            handled_here = getattr(command, "graph", None) == self.record.checkpoint_ns
            if handled_here:
                here = dataclasses.replace(value, graph=None)
                channels = self.record.channels or self.trace.channels
                self.record.writes = channel_writes(here, channels)
                self.record.update_keys = tuple(self.record.writes)
        else:
            interrupts = command if isinstance(command, (list, tuple)) else [command]
            value = {"__interrupt__": [getattr(i, "value", i) for i in interrupts]}
        self.record.interrupted = not handled_here
        self.record.output = _with_run(
            self.trace.run,
            Node.with_parents,
            value,
            self.record.node,
            OPERATION,
            self._parents(hidden, None),
            self.op,
        )
        self.trace.wrote(self.record)

    def fail(
        self,
        exc: BaseException,
        hidden: Iterable[Node] = (),
        code: Node | None = None,
        op: OpInfo | None = None,
        error_line: int | None = None,
    ) -> None:
        error = _with_run(
            self.trace.run,
            record_failure,
            op or self.op,
            self._parents(hidden, code),
            None,
            exc,
            None,
            None,
            None,
            error_line,
        )
        self.record.exception = error.exception_node
        self.trace.failed(self.record)


class RouteRecorder:
    """Collects the parameters a router reads."""

    def __init__(self) -> None:
        self.parameters_read: list[str] = []

    def read_parameter(self, name: str) -> None:
        if name not in self.parameters_read:
            self.parameters_read.append(name)


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
        aggregate_channels: frozenset[str],
        static_edges: set[tuple[str, str]],
        waiting_edges: set[tuple[tuple[str, ...], str]],
    ) -> None:
        self.graph_name = graph_name
        self.run = run
        self.parameters = dict(parameters)
        self.aggregate_channels = aggregate_channels
        self.static_edges = static_edges
        self.waiting_edges = waiting_edges
        self.steps: list[StepRecord] = []
        self.routes: list[RouteRecord] = []
        self.failures: list[StepRecord] = []
        self.output: Node | None = None
        self.exception: Node | None = None
        self.value: Any = None
        self._lock = threading.Lock()
        self._writes: list[tuple[int, str, Node, str]] = []  # (step, channel, writer, scope)
        self._restored: dict[str, Node] = {}
        self._by_task: dict[str, StepRecord] = {}
        self._by_namespace: dict[str, StepRecord] = {}
        self._root: str | None = None  # the namespace the traced graph runs in
        self.owner: Any = None  # the TracedGraph that made the record
        self.channels: frozenset[str] = frozenset()  # the graph's state channels
        self.managed: frozenset[str] = frozenset()  # managed values (RemainingSteps, ...)
        self.deferred: frozenset[str] = frozenset()  # nodes added with defer=True
        self.with_edges: frozenset[str] = frozenset()  # nodes with an outgoing edge or router
        self.checkpointed = False  # the run has a checkpointer and a thread
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
        channels: frozenset[str] = frozenset(),
    ) -> StepRecorder:
        data = dict(state) if isinstance(state, Mapping) else state
        checkpoint_ns, namespace = namespace, self.relative(namespace, True)
        scope = scope_of(namespace)
        if send:
            parents = self._send_parents(node, step, state, scope)
            name, state_op = f"{node}_send", SEND_OP
        else:
            parents = self._state_parents(node, step, state_keys(state), state, scope)
            name, state_op = f"{node}_state", STATE_OP
        slice_node = _with_run(
            self.run, Node.with_parents, data, name, OPERATION, parents, state_op
        )
        record = StepRecord(
            node=node,
            step=step,
            task_id=task_id,
            state=slice_node,
            namespace=namespace,
            checkpoint_ns=checkpoint_ns,
            send=send,
            channels=channels,
        )
        with self._lock:
            self._by_task[task_id] = record
            self._by_namespace[namespace] = record
        return StepRecorder(self, record, op)

    def _state_parents(
        self, node: str, step: int, keys: Sequence[str], state: Any, scope: str = ""
    ) -> tuple[tuple[str, Node], ...]:
        parents: list[tuple[str, Node]] = []
        seen: set[Node] = set()

        def add(arg: str, parent: Node) -> None:
            if parent not in seen:
                seen.add(parent)
                parents.append((arg, parent))

        with self._lock:
            writes = [(s, ch, w) for s, ch, w, sc in self._writes if sc == scope]
            routes = [
                r
                for r in self.routes
                if r.step == step - 1 and node in r.destinations and r.scope == scope
            ]
            outer = self._by_namespace.get(scope) if scope else None
        for key in keys:
            writers = [w for s, ch, w in writes if ch == key and s < step]
            if writers:
                for writer in writers if key in self.aggregate_channels else writers[-1:]:
                    add(key, writer)
            elif outer is not None:  # a subgraph's input: the state its parent task got
                add(key, outer.state)
            elif key in self._input_keys:
                add(key, self.input)
            else:
                add(key, self._restored_node(key, state))
        for route in routes:
            add("route", route.decision)
        return tuple(parents)

    def inner_outputs(self, namespace: str) -> list[Node]:
        """The last writer of each channel among the steps of the subgraph run by the task
        at `namespace` (empty for a task that runs no subgraph)."""
        last: dict[str, Node] = {}
        with self._lock:
            for _, channel, writer, scope in self._writes:
                if scope == namespace:
                    last[channel] = writer
        return list(dict.fromkeys(last.values()))

    def relative(self, namespace: str, of_task: bool = False) -> str:
        """A namespace relative to the traced graph's own (which is not empty when the traced
        graph runs inside a node of another graph). The first task that reports tells it."""
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

    def _restored_node(self, key: str, state: Any) -> Node:
        """A channel value this run did not write: a managed value (fresh each step), a
        channel's default, or (with a checkpointer) a value from an earlier run."""
        value = state.get(key) if isinstance(state, Mapping) else getattr(state, key, None)
        if key in self.managed:
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
            for key in record.update_keys:
                self._writes.append((record.step, key, record.output, record.scope))

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
        route = RouteRecord(
            source, router, step, choices, destinations, decision, list(reads), chosen_by, scope
        )
        with self._lock:
            self.routes.append(route)
        return route

    def finish(self, value: Any, output_keys: Sequence[str]) -> Node:
        """Make the final-state node once the run has returned `value`."""
        with self._lock:
            writes = [(s, ch, w) for s, ch, w, scope in self._writes if not scope]
            end_routes = [r for r in self.routes if END in r.destinations and not r.scope]
        parents: list[tuple[str, Node]] = []
        seen: set[Node] = set()
        for key in output_keys:
            writers = [w for _, ch, w in writes if ch == key]
            chosen = writers if key in self.aggregate_channels else writers[-1:]
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
        """The edges the run actually took, START and END included."""
        return taken_edges(self)

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
