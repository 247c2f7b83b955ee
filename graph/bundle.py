"""@bundle: turn a function into a traced operation.

Calling a bundled function with nodes (or plain values) runs it on the plain values and
returns a node whose parents are the node inputs; its source and docstring are what the
optimizer reads. `bundle(trainable=True)` makes the source itself a parameter."""

from __future__ import annotations

import asyncio
import functools
import inspect
import textwrap
import types
from collections.abc import Callable
from typing import Any, Literal

from .errors import GraphError
from .node import Node, node
from .op import HiddenInputs, OpInfo, acall_traced, call_traced
from .run import is_tracing
from .sandbox import compile_function, run_in_process

Sandbox = Literal["process", "inline"]


def function_source(fn: Callable[..., Any]) -> tuple[str, int]:
    """The function's source from its `def` line (decorators dropped), and that line's number."""
    try:
        lines, start = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        return "", 1
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith(("def ", "async def ")):
            return textwrap.dedent("".join(lines[i:])), start + i
    return textwrap.dedent("".join(lines)), start


class Bundle:
    """A traced operation. Use through `bundle()`."""

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        description: str | None = None,
        trainable: bool = False,
        hidden_inputs: HiddenInputs = "record",
        sandbox: Sandbox = "process",
        timeout_s: float = 10.0,
        memory_mb: int = 1024,
    ) -> None:
        if not callable(fn):
            raise GraphError(f"bundle() needs a function; got {type(fn).__name__} {fn!r:.60}")
        if hidden_inputs not in ("record", "error", "ignore"):
            raise GraphError(
                f"bundle(hidden_inputs={hidden_inputs!r}): expected 'record', 'error' or 'ignore'"
            )
        if sandbox not in ("process", "inline"):
            raise GraphError(f"bundle(sandbox={sandbox!r}): expected 'process' or 'inline'")
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.name: str = name or str(getattr(fn, "__name__", type(fn).__name__))
        self.is_async = inspect.iscoroutinefunction(fn)
        self.signature = inspect.signature(fn)
        self.hidden_inputs: HiddenInputs = hidden_inputs
        self.sandbox: Sandbox = sandbox
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        source, first_line = function_source(fn)
        code = getattr(fn, "__code__", None)
        self.source = source
        self.op = OpInfo(
            name=self.name,
            doc=description or inspect.getdoc(fn) or "",
            source=source,
            filename=code.co_filename if code else None,
            first_line=first_line,
        )
        self.code: Node | None = None
        if trainable:
            if not source:
                raise GraphError(f"bundle(trainable=True) on {self.name!r}: its source is not available")
            self.code = node(
                source, trainable=True, name=f"__code_{self.name}",
                description=f"the code of the function {self.name}",
            )
        self._compiled: dict[str, tuple[OpInfo, Callable[..., Any]]] = {}

    # methods: a Bundle stored on a class binds like a function
    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        return self if obj is None else types.MethodType(self, obj)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        op, fn = self._current()
        if not is_tracing():
            plain_args = tuple(a.data if isinstance(a, Node) else a for a in args)
            plain_kwargs = {k: (v.data if isinstance(v, Node) else v) for k, v in kwargs.items()}
            return fn(*plain_args, **plain_kwargs)
        inputs = self._inputs(args, kwargs)
        extra = (("__code", self.code),) if self.code is not None else ()
        if self.is_async:
            return acall_traced(op, fn, inputs, args, kwargs, self.hidden_inputs, extra)
        return call_traced(op, fn, inputs, args, kwargs, self.hidden_inputs, extra)

    def _inputs(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[tuple[str, Any]]:
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.name}(): {exc}") from None
        inputs: list[tuple[str, Any]] = []
        for pname, value in bound.arguments.items():
            kind = self.signature.parameters[pname].kind
            if kind is inspect.Parameter.VAR_POSITIONAL:
                inputs += [(f"{pname}[{i}]", v) for i, v in enumerate(value)]
            elif kind is inspect.Parameter.VAR_KEYWORD:
                inputs += list(value.items())
            elif pname in ("self", "cls") and not isinstance(value, Node):
                continue  # the receiver of a method is not data flowing through the graph
            else:
                inputs.append((pname, value))
        return inputs

    def _current(self) -> tuple[OpInfo, Callable[..., Any]]:
        """The op description and the callable for the code the parameter holds now."""
        if self.code is None or self.code._data == self.source:
            return self.op, self.fn
        code = self.code._data
        cached = self._compiled.get(code)
        if cached is not None:
            return cached
        filename = f"<optograph-code {self.name}>"
        op = OpInfo(name=self.name, doc=self.op.doc, source=code, filename=filename, first_line=1)
        globals_ = getattr(self.fn, "__globals__", {})
        if self.sandbox == "inline":
            fn: Callable[..., Any] = compile_function(code, self.fn.__name__, globals_, filename)
        else:
            fn = self._process_runner(code, globals_)
        self._compiled = {code: (op, fn)}  # only the latest code is kept
        return op, fn

    def _process_runner(self, code: str, globals_: dict[str, Any]) -> Callable[..., Any]:
        function_name = self.fn.__name__

        def run(*args: Any, **kwargs: Any) -> Any:
            return run_in_process(
                code, function_name, globals_, args, kwargs, self.timeout_s, self.memory_mb
            )

        if self.is_async:
            async def arun(*args: Any, **kwargs: Any) -> Any:
                return await asyncio.to_thread(run, *args, **kwargs)

            return arun
        return run

    def parameters(self) -> list[Node]:
        """The code parameter of a trainable bundle (empty otherwise)."""
        return [self.code] if self.code is not None else []

    def __repr__(self) -> str:
        return f"<bundle {self.name}>"


def bundle(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    trainable: bool = False,
    hidden_inputs: HiddenInputs = "record",
    sandbox: Sandbox = "process",
    timeout_s: float = 10.0,
    memory_mb: int = 1024,
) -> Any:
    """Decorator (`@bundle` or `@bundle(...)`) making `fn` a traced operation.

    hidden_inputs: what to do when the function reads a node it was not given as an argument:
      "record" adds it as an input of the operation, "error" raises HiddenInputError.
    trainable: the function's source becomes a parameter (`.code`); code the optimizer writes
      runs in a forked process limited to `timeout_s` and `memory_mb` (sandbox="inline" runs
      it in this process instead)."""
    options = dict(
        name=name, description=description, trainable=trainable, hidden_inputs=hidden_inputs,
        sandbox=sandbox, timeout_s=timeout_s, memory_mb=memory_mb,
    )
    if fn is not None:
        return Bundle(fn, **options)  # type: ignore[arg-type]

    def decorate(f: Callable[..., Any]) -> Bundle:
        return Bundle(f, **options)  # type: ignore[arg-type]

    return decorate
