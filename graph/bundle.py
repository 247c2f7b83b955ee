"""@bundle: turn a function into a traced operation.

Calling a bundled function with nodes (or plain values) runs it on the plain values and
returns a node whose parents are the node inputs; its source and docstring are what the
optimizer reads. `bundle(trainable=True)` makes the source itself a parameter."""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable
from typing import Any

from .code_function import CodeFunction, Sandbox, function_source
from .errors import GraphError
from .node import Node, node
from .op import HiddenInputs, acall_traced, call_traced
from .run import is_tracing

__all__ = ["Bundle", "Sandbox", "bundle", "function_source"]


class Bundle(CodeFunction):
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
        name = name or str(getattr(fn, "__name__", type(fn).__name__))
        super().__init__(
            fn, name, description or inspect.getdoc(fn) or "", None, sandbox, timeout_s, memory_mb
        )
        self.signature = inspect.signature(fn)
        self.hidden_inputs: HiddenInputs = hidden_inputs
        if trainable:
            if not self.source:
                raise GraphError(f"bundle(trainable=True) on {self.name!r}: its source is not available")
            self.code = node(
                self.source, trainable=True, name=f"__code_{self.name}",
                description=f"the code of the function {self.name}", value_type="code",
            )

    # methods: a Bundle stored on a class binds like a function
    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        return self if obj is None else types.MethodType(self, obj)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        op, fn = self.current()
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
