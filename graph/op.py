"""Recording one operation: unwrap the inputs, run, and wrap the result (or the failure) in a
node whose parents are the node inputs."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

from .errors import ExecutionError, HiddenInputError, RunAbortedError
from .node import EXCEPTION, OPERATION, Node, split_parents
from .run import _tracing, collect_data_reads

HiddenInputs = Literal["record", "error", "ignore"]
ERROR_MARKER = "  <-- error here"


@dataclass(frozen=True)
class OpInfo:
    """What the optimizer is told about an operation. Shared by every call of it."""

    name: str
    doc: str = ""
    source: str = ""
    filename: str | None = None
    first_line: int = 1
    builtin: bool = False


Parents = tuple[tuple[str, Node], ...]  # (argument name, input node) pairs

# The argument names of binary operators (`x + y`; `x + 1` keeps 1 as the constant "b"):
# one shared tuple, not one per node, and summaries recognise them by identity.
BINARY_ARGS: tuple[str, ...] = ("a", "b")
LEFT_ARG: tuple[str, ...] = ("a",)


def split_inputs(inputs: list[tuple[str, Any]]) -> tuple[Parents, dict[str, Any] | None]:
    """Node inputs become parents; plain values are kept as constants of the call."""
    parents: list[tuple[str, Node]] = []
    constants: dict[str, Any] | None = None
    for arg, value in inputs:
        if isinstance(value, Node):
            parents.append((arg, value))
        else:
            if constants is None:
                constants = {}
            constants[arg] = value
    return tuple(parents), constants


def record_result(
    op: OpInfo,
    parents: Parents,
    constants: dict[str, Any] | None,
    result: Any,
) -> Node:
    return record_node(op, *split_parents(parents), constants, result)


def record_node(
    op: OpInfo,
    input_names: tuple[str, ...],
    inputs: tuple[Node, ...],
    constants: dict[str, Any] | None,
    result: Any,
) -> Node:
    """The operation node for a call that returned `result` (the operators' fast path)."""
    if isinstance(result, Node):
        # A function that returns one of its inputs (or another node) still gets an operation
        # node of its own, so the call shows in the graph.
        result = result._data
    return Node.make(result, op.name, OPERATION, inputs, input_names, op, constants=constants)


def record_failure(
    op: OpInfo,
    parents: Parents,
    constants: dict[str, Any] | None,
    exc: BaseException,
    source: str | None = None,
    filename: str | None = None,
    first_line: int | None = None,
    error_line: int | None = None,
) -> ExecutionError:
    """Turn an exception into an exception node; return the ExecutionError to raise."""
    src = op.source if source is None else source
    fname = op.filename if filename is None else filename
    start = op.first_line if first_line is None else first_line
    if error_line is None:
        error_line = failing_line(exc.__traceback__, fname)
    info: dict[str, Any] = {
        "exception_type": type(exc).__name__,
        "message": str(exc),
        "source": annotate_source(src, start, error_line),
        "error_line": error_line,
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    }
    data = f"({type(exc).__name__}) {exc}"
    node = Node.with_parents(
        data, f"exception_{op.name}", EXCEPTION, parents, op, constants=constants, info=info
    )
    return ExecutionError(node)


def failing_line(tb: TracebackType | None, filename: str | None) -> int | None:
    """The last line of `filename` in the traceback (the innermost frame of the op's code)."""
    line = None
    while tb is not None:
        if filename is not None and tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def annotate_source(source: str, first_line: int, error_line: int | None) -> str:
    if not source:
        return ""
    out = []
    for offset, text in enumerate(source.splitlines()):
        number = first_line + offset
        mark = ERROR_MARKER if number == error_line else ""
        out.append(f"{number:4d} | {text}{mark}")
    return "\n".join(out)


def call_traced(
    op: OpInfo,
    fn: Callable[..., Any],
    inputs: list[tuple[str, Any]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    hidden_inputs: HiddenInputs = "record",
    extra_parents: Parents = (),
) -> Node:
    """Run a bundled function on plain values with tracing off inside it, and record it."""
    parents, constants = split_inputs(inputs)
    parents = extra_parents + parents
    plain_args, plain_kwargs = _plain(args, kwargs)
    token = _tracing.set(False)
    try:
        with collect_data_reads() as reads:
            try:
                result = fn(*plain_args, **plain_kwargs)
            except RunAbortedError:
                raise
            except Exception as exc:
                raise _failure(op, parents, constants, exc) from exc
    finally:
        _tracing.reset(token)
    parents = _with_hidden(op, parents, reads, hidden_inputs)
    return record_result(op, parents, constants, result)


async def acall_traced(
    op: OpInfo,
    fn: Callable[..., Any],
    inputs: list[tuple[str, Any]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    hidden_inputs: HiddenInputs = "record",
    extra_parents: Parents = (),
) -> Node:
    """`call_traced` for a coroutine function: the same recording around an await."""
    parents, constants = split_inputs(inputs)
    parents = extra_parents + parents
    plain_args, plain_kwargs = _plain(args, kwargs)
    token = _tracing.set(False)
    try:
        with collect_data_reads() as reads:
            try:
                result = await fn(*plain_args, **plain_kwargs)
            except RunAbortedError:
                raise
            except Exception as exc:
                raise _failure(op, parents, constants, exc) from exc
    finally:
        _tracing.reset(token)
    parents = _with_hidden(op, parents, reads, hidden_inputs)
    return record_result(op, parents, constants, result)


def _plain(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    plain_args = tuple(a._data if isinstance(a, Node) else a for a in args)
    plain_kwargs = {k: (v._data if isinstance(v, Node) else v) for k, v in kwargs.items()}
    return plain_args, plain_kwargs


def _failure(
    op: OpInfo,
    parents: Parents,
    constants: dict[str, Any] | None,
    exc: BaseException,
) -> ExecutionError:
    # Code run out of process cannot be found in this traceback: it reports its own line.
    return record_failure(op, parents, constants, exc, error_line=getattr(exc, "error_line", None))


def _with_hidden(
    op: OpInfo,
    parents: Parents,
    reads: set[Node],
    policy: HiddenInputs,
) -> Parents:
    if not reads or policy == "ignore":
        return parents
    given = {p for _, p in parents}
    hidden = sorted((n for n in reads if n not in given), key=lambda n: n.order)
    if not hidden:
        return parents
    if policy == "error":
        names = ", ".join(n.name for n in hidden)
        raise HiddenInputError(
            f"bundled function {op.name!r} read node(s) {names} without receiving them as "
            "inputs; pass them as arguments or use hidden_inputs='record'"
        )
    return parents + tuple((f"hidden:{n.name}", n) for n in hidden)
