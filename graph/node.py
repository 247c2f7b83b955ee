"""Nodes: the values of a traced run. Parameters are trainable nodes; operation nodes keep the
operation and the inputs that made them; feedback given to an output reaches every parameter
the output depends on."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import GraphError
from .run import Run, _current_run, current_run, note_data_read

if TYPE_CHECKING:
    from .op import OpInfo
    from .search_space import SearchSpace

FeedbackValue = str | int | float | dict[str, Any]

PARAMETER = "parameter"
INPUT = "input"
OPERATION = "operation"
EXCEPTION = "exception"


@dataclass(frozen=True, eq=False)
class Feedback:
    """One piece of feedback: the output it was given to, and what was said."""

    output: Node
    value: FeedbackValue

    def text(self) -> str:
        return feedback_text(self.value)


@dataclass(frozen=True)
class NodeDetails:
    """The attributes few nodes have: a parameter's description, constraint, search space and
    declared value type ("code" for Python source), an exception node's info."""

    description: str | None = None
    constraint: str | None = None
    search_space: SearchSpace | None = None
    info: dict[str, Any] | None = None
    value_type: str | None = None


def feedback_text(value: FeedbackValue) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def _check_feedback(value: Any) -> FeedbackValue:
    if isinstance(value, bool) or not isinstance(value, (str, int, float, dict)):
        raise GraphError(
            f"feedback must be text, a number, or a dict of them; got {type(value).__name__}"
        )
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not isinstance(item, (str, int, float)):
                raise GraphError(
                    f"feedback dict entry {key!r} must map a string to text or a number; "
                    f"got {type(item).__name__}"
                )
    return value


class Node:
    """A value in a traced run.

    `data` is the value; `name` is unique within the run that made the node; `parents` are
    the (argument name, node) pairs it was computed from; `op` describes the operation that
    made it (None for parameters and inputs) and `constants` the plain arguments it was
    called with; `info` holds an exception node's details."""

    # Memory, for very large graphs (100k operations), whose time goes to cache misses and to
    # CPython's cyclic gc:
    # - 12 slots make a 128-byte object (160 with one slot per attribute: a 100k-operation
    #   graph takes 8 % less memory). What few nodes have (a parameter's description,
    #   constraint and search space, an exception's info) shares one `_details` slot, and
    #   the slots every walk reads come first.
    # - Inputs and their argument names are two flat tuples rather than (name, node) pairs,
    #   feedback starts as the shared empty tuple, and constants are a dict of plain values
    #   (which the gc does not track): two gc-tracked objects per node, the node and its
    #   inputs.
    __slots__ = (
        "_data", "inputs", "order", "run", "name", "kind",
        "op", "input_names", "constants", "feedback", "_details", "__weakref__",
    )

    _data: Any
    inputs: tuple[Node, ...]
    order: int
    run: Run
    name: str
    kind: str
    op: OpInfo | None
    input_names: tuple[str, ...]
    constants: dict[str, Any] | None
    feedback: tuple[Feedback, ...]
    _details: NodeDetails | None

    @classmethod
    def make(
        cls,
        data: Any,
        base_name: str,
        kind: str,
        inputs: tuple[Node, ...] = (),
        input_names: tuple[str, ...] = (),
        op: OpInfo | None = None,
        *,
        description: str | None = None,
        constraint: str | None = None,
        search_space: SearchSpace | None = None,
        constants: dict[str, Any] | None = None,
        info: dict[str, Any] | None = None,
        value_type: str | None = None,
    ) -> Node:
        """Build a node in the current run (fast path used by the tracer). `input_names[i]` is
        the argument through which `inputs[i]` was passed; `constants` are the plain values
        the operation was called with, by argument name."""
        run = _current_run.get() or current_run()
        self = object.__new__(cls)
        self._data = data
        self.inputs = inputs
        self.kind = kind
        self.op = op
        self.input_names = input_names
        self.constants = constants
        self.feedback = ()
        if (description is None and constraint is None and search_space is None and info is None
                and value_type is None):
            self._details = None
        else:
            self._details = NodeDetails(description, constraint, search_space, info, value_type)
        run.admit(self, base_name)  # sets name, order and run
        return self

    # what few nodes have, kept together (see the layout note above)
    @property
    def description(self) -> str | None:
        return self._details.description if self._details else None

    @property
    def constraint(self) -> str | None:
        return self._details.constraint if self._details else None

    @property
    def search_space(self) -> SearchSpace | None:
        return self._details.search_space if self._details else None

    @property
    def info(self) -> dict[str, Any] | None:
        """An exception node's details: its type, message, marked source and traceback."""
        return self._details.info if self._details else None

    @property
    def value_type(self) -> str | None:
        """The type a parameter was declared with ("code", "float", ...), or None."""
        return self._details.value_type if self._details else None

    @classmethod
    def with_parents(
        cls,
        data: Any,
        base_name: str,
        kind: str,
        parents: tuple[tuple[str, Node], ...],
        op: OpInfo | None = None,
        *,
        constants: dict[str, Any] | None = None,
        info: dict[str, Any] | None = None,
    ) -> Node:
        """`make` with the inputs given as (argument name, node) pairs."""
        names, inputs = split_parents(parents)
        return cls.make(data, base_name, kind, inputs, names, op, constants=constants, info=info)

    @property
    def parents(self) -> tuple[tuple[str, Node], ...]:
        """The (argument name, input node) pairs this node was computed from."""
        return tuple(zip(self.input_names, self.inputs, strict=True))

    # -- value ---------------------------------------------------------------------------
    @property
    def data(self) -> Any:
        note_data_read(self)
        return self._data

    @property
    def trainable(self) -> bool:
        return self.kind == PARAMETER

    def set(self, value: Any) -> None:
        """Replace a parameter's value (what an optimizer's step does)."""
        if not self.trainable:
            raise GraphError(f"node {self.name!r} is not trainable; only parameters can be set")
        self._data = _check_value(value, self.name)

    # -- feedback ------------------------------------------------------------------------
    def backward(self, feedback: FeedbackValue) -> None:
        """Give feedback to this output. It reaches every parameter this node depends on and
        accumulates there (several outputs, several calls) until `zero_feedback()`."""
        item = Feedback(self, _check_feedback(feedback))
        _add_feedback(self, item)
        seen = {self}
        stack = [self]
        while stack:  # the ancestors, each once (a loop, not ancestors(): this runs per output)
            for parent in stack.pop().inputs:
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
                    if parent.kind == PARAMETER:
                        _add_feedback(parent, item)

    def zero_feedback(self) -> None:
        self.feedback = ()

    # -- structure -----------------------------------------------------------------------
    def ancestors(self, include_self: bool = False) -> Iterator[Node]:
        """Every node this one was computed from, each once (iterative: no recursion limit)."""
        seen = {self}
        stack = [self]
        if include_self:
            yield self
        while stack:
            current = stack.pop()
            for parent in current.inputs:
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
                    yield parent

    def parameters(self) -> list[Node]:
        """The parameters this node depends on (itself included if it is one)."""
        return [n for n in self.ancestors(include_self=True) if n.kind == PARAMETER]

    def __repr__(self) -> str:
        from .preview import preview

        return f"Node({self.name}: {preview(self._data, 60)})"

    # untraced on purpose: Python requires these to return plain bool/int/str
    def __bool__(self) -> bool:
        return bool(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __str__(self) -> str:
        return str(self._data)

    # By identity, and object's own C function rather than a Python method: sets of nodes
    # are how every walk of the graph remembers what it has seen, and this makes a lookup
    # cost no call and no read of the node itself (its address is its hash).
    __hash__ = object.__hash__

    def __contains__(self, item: Any) -> bool:
        return unwrap(item) in self._data

    def __iter__(self) -> Iterator[Any]:
        """Traced items: x[0], x[1], ... for a list, tuple or string; for any other iterable
        (a dict's keys, a set) the items of a traced list(x)."""
        from .operators import traced_getitem, traced_list

        source = self if isinstance(self._data, (list, tuple, str)) else traced_list(self)
        for i in range(len(source._data) if isinstance(source, Node) else len(source)):
            yield traced_getitem(source, i)

    # -- copy and pickle -----------------------------------------------------------------
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """copy.copy, copy.deepcopy and pickle all give a detached node (no inputs, no
        feedback) with the same name, in a run of its own: a parameter stays a parameter (with
        its description, constraint and search space), an input stays an input, and a
        run-bound intermediate (an operation's or an exception's result) becomes a constant
        input holding the value. copy.copy shares the value; deepcopy and pickle copy it."""
        kind = self.kind if self.kind in (PARAMETER, INPUT) else INPUT
        details = (self.description, self.constraint, self.search_space) if kind == PARAMETER else (
            None, None, None)
        return detached_node, (kind, self._data, self.name, *details)


def detached_node(
    kind: str,
    data: Any,
    name: str,
    description: str | None = None,
    constraint: str | None = None,
    search_space: SearchSpace | None = None,
) -> Node:
    """A node outside any traced run, named exactly `name` (what a copy or an unpickled node
    is): each gets a run of its own, so its name needs no suffix."""
    with Run("copy"):
        return Node.make(
            data, name, kind, description=description, constraint=constraint,
            search_space=search_space,
        )


def _add_feedback(node: Node, item: Feedback) -> None:
    # Feedback is a tuple (no per-node list for gc to track), so appending is a read and a
    # write: the node's run lock keeps threads that share a parameter from losing items.
    with node.run.feedback_lock:
        node.feedback = (*node.feedback, item)


def split_parents(
    parents: tuple[tuple[str, Node], ...],
) -> tuple[tuple[str, ...], tuple[Node, ...]]:
    """(argument names, input nodes) of (argument name, node) pairs."""
    return tuple(arg for arg, _ in parents), tuple(node for _, node in parents)


def _check_value(value: Any, name: str) -> Any:
    if isinstance(value, Node):
        raise GraphError(f"node {name!r}: a node cannot hold another node as its value")
    if inspect.iscoroutine(value) or inspect.isgenerator(value) or inspect.isasyncgen(value):
        raise GraphError(
            f"node {name!r}: unsupported value {type(value).__name__} (await or consume it first)"
        )
    return value


def node(
    value: Any,
    trainable: bool = False,
    name: str | None = None,
    description: str | None = None,
    constraint: str | None = None,
    search_space: SearchSpace | None = None,
    value_type: str | None = None,
) -> Node:
    """Wrap `value` in a node. Trainable nodes are the parameters an optimizer changes.

    `value_type` declares what the value is; "code" makes it Python source that optimizers
    check as code (it must parse and keep its function's name and signature), whatever the
    node's name.

    As in Trace, `node(existing_node)` returns `existing_node` itself (other arguments are
    ignored), while `node(existing_node, trainable=True)` returns a new parameter that shares
    the existing node's value (the same object), named after it unless `name` is given, with
    its description, constraint and search space unless given."""
    if isinstance(value, Node):
        if not trainable:
            return value
        name = name or value.name.split(":")[0]
        description = value.description if description is None else description
        constraint = value.constraint if constraint is None else constraint
        search_space = value.search_space if search_space is None else search_space
        value = value._data
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise GraphError(f"node name must be a non-empty string; got {name!r}")
    base = name or ("param" if trainable else "value")
    _check_value(value, base)
    if trainable and callable(value) and not isinstance(value, type):
        raise GraphError(
            f"node {base!r}: a function cannot be a parameter value; "
            "use @bundle(trainable=True) to make its code trainable"
        )
    return Node.make(
        value,
        base,
        PARAMETER if trainable else INPUT,
        description=description,
        constraint=constraint,
        search_space=search_space,
        value_type=value_type,
    )


def unwrap(value: Any) -> Any:
    """The plain value of a node (reading it as an input), or the value itself."""
    return value._data if isinstance(value, Node) else value
