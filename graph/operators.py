"""Python operators on nodes, traced: `x + 1`, `x[0]`, `x.upper()` each add an operation node.

Untraced on purpose (Python needs plain results from these): bool(x), len(x), str(x),
hash(x), iteration's length, and attribute names starting with "_". `x.data` reads the value.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from .node import Node
from .op import (
    BINARY_ARGS,
    LEFT_ARG,
    OpInfo,
    record_failure,
    record_node,
    record_result,
    split_inputs,
)
from .run import _tracing


def _op(name: str, doc: str) -> OpInfo:
    return OpInfo(name=name, doc=doc, builtin=True)


def apply_operator(op: OpInfo, fn: Callable[..., Any], inputs: list[tuple[str, Any]]) -> Any:
    """The fast path for operators: no signature binding, no hidden-input collection."""
    if not _tracing.get():
        # .data (not ._data) so a bundled function reading a node this way is noticed
        return fn(*[v.data if isinstance(v, Node) else v for _, v in inputs])
    parents, constants = split_inputs(inputs)
    try:
        result = fn(*[v._data if isinstance(v, Node) else v for _, v in inputs])
    except Exception as exc:
        raise record_failure(op, parents, constants, exc) from exc
    return record_result(op, parents, constants, result)


def _binary(name: str, symbol: str, fn: Callable[[Any, Any], Any]) -> tuple[Any, Any]:
    op = _op(name, f"{name}(a, b) returns a {symbol} b")

    def forward(self: Node, other: Any) -> Any:
        # the commonest traced call, so it skips apply_operator's generic argument handling
        if not _tracing.get():
            return fn(self.data, other.data if isinstance(other, Node) else other)
        names: tuple[str, ...]
        inputs: tuple[Node, ...]
        if isinstance(other, Node):
            names, inputs, constants, b = BINARY_ARGS, (self, other), None, other._data
        else:
            names, inputs, constants, b = LEFT_ARG, (self,), {"b": other}, other
        try:
            result = fn(self._data, b)
        except Exception as exc:
            raise record_failure(op, tuple(zip(names, inputs, strict=True)), constants, exc) from exc
        return record_node(op, names, inputs, constants, result)

    def reflected(self: Node, other: Any) -> Any:
        return apply_operator(op, fn, [("a", other), ("b", self)])

    return forward, reflected


def _unary(name: str, symbol: str, fn: Callable[[Any], Any]) -> Any:
    op = _op(name, f"{name}(x) returns {symbol}x")

    def method(self: Node) -> Any:
        return apply_operator(op, fn, [("x", self)])

    return method


_BINARY: dict[str, tuple[str, Callable[[Any, Any], Any]]] = {
    "add": ("+", operator.add), "sub": ("-", operator.sub), "mul": ("*", operator.mul),
    "truediv": ("/", operator.truediv), "floordiv": ("//", operator.floordiv),
    "mod": ("%", operator.mod), "pow": ("**", operator.pow), "matmul": ("@", operator.matmul),
    "and": ("&", operator.and_), "or": ("|", operator.or_), "xor": ("^", operator.xor),
    "lshift": ("<<", operator.lshift), "rshift": (">>", operator.rshift),
}
_COMPARE: dict[str, tuple[str, Callable[[Any, Any], Any]]] = {
    "lt": ("<", operator.lt), "le": ("<=", operator.le), "eq": ("==", operator.eq),
    "ne": ("!=", operator.ne), "gt": (">", operator.gt), "ge": (">=", operator.ge),
}
_UNARY: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "neg": ("-", operator.neg), "pos": ("+", operator.pos),
    "abs": ("abs ", abs), "invert": ("~", operator.invert),
}

GETITEM = _op("getitem", "getitem(x, index) returns x[index]")
GETATTR = _op("getattr", "getattr(x, name) returns the attribute x.name")
CALL = _op("call", "call(fn, *args, **kwargs) calls fn with the arguments")


def traced_getitem(self: Node, index: Any) -> Any:
    return apply_operator(GETITEM, operator.getitem, [("x", self), ("index", index)])


LIST = _op("list", "list(x) returns the items of x as a list")


def traced_list(self: Node) -> Any:
    return apply_operator(LIST, list, [("x", self)])


def traced_getattr(self: Node, attr: str) -> Any:
    if attr.startswith("_"):
        raise AttributeError(attr)
    return apply_operator(GETATTR, getattr, [("x", self), ("name", attr)])


def traced_call(self: Node, *args: Any, **kwargs: Any) -> Any:
    """`x.method(...)`: every node among the arguments is an input, also inside lists, tuples
    and dicts (`og.node("+").join([a, b])` has inputs a and b)."""
    inputs: list[tuple[str, Any]] = [("fn", self)]
    positional = [lift(a, f"arg{i}", inputs) for i, a in enumerate(args)]
    keywords = {k: lift(v, k, inputs) for k, v in kwargs.items()}

    def invoke(*values: Any) -> Any:
        fn = values[0]
        return fn(*(b(values) for b in positional), **{k: b(values) for k, b in keywords.items()})

    return apply_operator(CALL, invoke, inputs)


PACK = _op("pack", "pack(items) returns the list, tuple or dict written with these items")


def pack(value: Any) -> Any:
    """One traced node for a list, tuple or dict literal written with nodes (at any depth):
    `og.pack([a, b, {"k": c}])` holds the plain values, and a, b and c are its inputs."""
    if isinstance(value, Node):
        return value
    inputs: list[tuple[str, Any]] = []
    build = lift(value, "items", inputs)
    return apply_operator(PACK, lambda *values: build(values), inputs)


def has_node(value: Any) -> bool:
    if isinstance(value, Node):
        return True
    if type(value) in (list, tuple):
        return any(has_node(v) for v in value)
    if type(value) is dict:
        return any(has_node(v) for v in value.values())
    return False


def lift(value: Any, label: str, inputs: list[tuple[str, Any]]) -> Callable[[Any], Any]:
    """Append `value` to `inputs` under `label`, or, for a list, tuple or dict holding nodes,
    each of its items (`label[0]`, `label['key']`); return what rebuilds the plain value from
    the plain input values (in the order of `inputs`)."""
    if type(value) in (list, tuple) and has_node(value):
        parts = [lift(v, f"{label}[{j}]", inputs) for j, v in enumerate(value)]
        kind = type(value)
        return lambda values: kind(p(values) for p in parts)
    if type(value) is dict and has_node(value):
        items = {k: lift(v, f"{label}[{k!r}]", inputs) for k, v in value.items()}
        return lambda values: {k: p(values) for k, p in items.items()}
    index = len(inputs)
    inputs.append((label, value))
    return lambda values: values[index]


def install_operators(cls: type[Node]) -> None:
    for name, (symbol, fn) in _BINARY.items():
        forward, reflected = _binary(name, symbol, fn)
        setattr(cls, f"__{name}__", forward)
        setattr(cls, f"__r{name}__", reflected)
    for name, (symbol, fn) in _COMPARE.items():
        setattr(cls, f"__{name}__", _binary(name, symbol, fn)[0])
    for name, (symbol, unary_fn) in _UNARY.items():
        setattr(cls, f"__{name}__", _unary(name, symbol, unary_fn))
    # setattr keeps the type checker out of it: these are installed once, on the class
    setattr(cls, "__getitem__", traced_getitem)  # noqa: B010
    setattr(cls, "__getattr__", traced_getattr)  # noqa: B010
    setattr(cls, "__call__", traced_call)  # noqa: B010
    setattr(cls, "__hash__", object.__hash__)  # noqa: B010  (__eq__ is traced)


install_operators(Node)
