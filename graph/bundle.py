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
        sandbox: Sandbox = None,
        timeout_s: float = 10.0,
        memory_mb: int = 1024,
    ) -> None:
        if not callable(fn):
            raise GraphError(f"bundle() needs a function; got {type(fn).__name__} {fn!r:.60}")
        if hidden_inputs not in ("record", "error", "ignore"):
            raise GraphError(
                f"bundle(hidden_inputs={hidden_inputs!r}): expected 'record', 'error' or 'ignore'"
            )
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

    # -- per-instance code parameters ----------------------------------------------------
    # A trainable bundle defined in a class body is the class's; each instance gets its own
    # copy (with its own code parameter, named `__code_ClassName.method`) on first access, kept in
    # the instance's __dict__ under a reserved name, as Trace does.
    _owner: tuple[type, str] | None = None  # (defining class, attribute), set by __set_name__
    _instance_copy: bool = False

    def __set_name__(self, owner: type, attr: str) -> None:
        self._owner = (owner, attr)

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        if self.code is None or self._owner is None:
            return types.MethodType(self, obj)
        return types.MethodType(self.for_instance(obj), obj)

    def for_instance(self, obj: Any) -> Bundle:
        """This method's copy for `obj`, made on first use (its code parameter starts as the
        source the class has)."""
        assert self._owner is not None
        key = instance_key(*self._owner)
        try:
            slots = vars(obj)
        except TypeError:
            raise GraphError(
                f"{type(obj).__name__}.{self._owner[1]}: a trainable method needs instances "
                "with a __dict__ to hold their own code parameter (the class has __slots__)"
            ) from None
        found = slots.get(key)
        if found is None:
            assert self.code is not None
            code = node(
                self.source, trainable=True, name=f"__code_{type(obj).__name__}.{self._owner[1]}",
                description=self.code.description, constraint=self.code.constraint,
            )
            # setdefault is atomic: two threads' first calls still share one parameter
            found = slots.setdefault(key, self._instance_bundle(code))
        return found  # type: ignore[no-any-return]

    def _instance_bundle(self, code: Node) -> Bundle:
        copied = object.__new__(Bundle)
        copied.__dict__.update(self.__dict__)
        copied.code = code
        copied._compiled = {}
        copied._instance_copy = True
        return copied

    def __reduce__(self) -> Any:
        # An instance's copy is rebuilt from its class's bundle and its own code parameter
        # (so copy.deepcopy and pickle give it a copied parameter); any other bundle is
        # referred to by name, like a function.
        if self._instance_copy and self._owner is not None:
            return instance_bundle, (*self._owner, self.code)
        return str(getattr(self, "__qualname__", self.name))

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


def instance_key(owner: type, attr: str) -> str:
    """The reserved instance attribute holding an instance's copy of `owner.attr`."""
    return f"__og_method__{owner.__qualname__}.{attr}"


def instance_bundle(owner: type, attr: str, code: Node) -> Bundle:
    """An instance's copy of the trainable method `owner.attr` holding `code` (unpickling)."""
    method = inspect.getattr_static(owner, attr, None)
    if not isinstance(method, Bundle):
        raise GraphError(f"{owner.__qualname__}.{attr} is no longer a bundled method")
    return method._instance_bundle(code)


def bundle(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    trainable: bool = False,
    hidden_inputs: HiddenInputs = "record",
    sandbox: Sandbox = None,
    timeout_s: float = 10.0,
    memory_mb: int = 1024,
) -> Any:
    """Decorator (`@bundle` or `@bundle(...)`) making `fn` a traced operation.

    hidden_inputs: what to do when the function reads a node it was not given as an argument:
      "record" adds it as an input of the operation, "error" raises HiddenInputError.
    trainable: the function's source becomes a parameter (`.code`; on a method defined in a
      class, each instance gets its own, see `Bundle.for_instance`); code the optimizer writes
      runs inside the isolation boundary limited to `timeout_s` and `memory_mb`: sandbox=None
      or "bwrap" (bubblewrap; $OPTOGRAPH_SANDBOX=process picks the weaker mode), "process"
      (explicit opt-in, no namespaces), "inline" (this process), or a SandboxConfig. A
      method's changes to `self` come back as JSON (docs/sandbox.md)."""
    options = dict(
        name=name, description=description, trainable=trainable, hidden_inputs=hidden_inputs,
        sandbox=sandbox, timeout_s=timeout_s, memory_mb=memory_mb,
    )
    if fn is not None:
        return Bundle(fn, **options)  # type: ignore[arg-type]

    def decorate(f: Callable[..., Any]) -> Bundle:
        return Bundle(f, **options)  # type: ignore[arg-type]

    return decorate
