"""One step of a traced LangGraph run while it runs: what a task received (`StepRecord`),
and the recorder its node wrapper reports to (`StepRecorder`): the parameters it read, the
chat model calls it made, and how it ended (an update, an interrupt or hand-off, a failure).
The run's record (`LangGraphTrace`, record.py) creates them and links them together."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..node import OPERATION, Node
from ..op import OpInfo, record_failure
from ..run import Run, _current_run
from .edges import channel_writes, goto_targets
from .shape import GraphShape

if TYPE_CHECKING:
    from .record import LangGraphTrace

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


def stable_namespace(namespace: str) -> str:
    """A task's namespace without its task id: the namespace LangGraph gives the tasks of a
    subgraph compiled with `checkpointer=True` (its state persists under the node's name)."""
    head, _, last = namespace.rpartition("|")
    last = last.split(":", 1)[0]
    return f"{head}|{last}" if head else last


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
    shape: GraphShape | None = None  # the (sub)graph the task is in (None: the traced graph)
    outer: str = ""  # for a task of a subgraph: the task id of the parent task that ran it
    failed_attempts: list[Node] = field(default_factory=list)  # retried (RetryPolicy) errors
    resumed: bool = False  # a task pending in the checkpoint this run resumed from

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
    outer: str = ""  # in a subgraph: the task id of the parent task that ran it


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
        parents += [("failed_attempt", e) for e in self.record.failed_attempts]
        # a subgraph node: what its own steps wrote last, channel by channel
        inner = self.trace.inner_outputs(self.record.namespace)
        parents += [(n.name, n) for n in inner if n not in known]
        return tuple(parents)

    def finish(self, result: Any, hidden: Iterable[Node] = (), code: Node | None = None) -> None:
        self.record.writes = channel_writes(result, self.trace.shape_of(self.record).channels)
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
                channels = self.trace.shape_of(self.record).channels
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
