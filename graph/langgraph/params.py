"""How parameters reach the nodes of a traced LangGraph graph: through the run's context.

A graph with a `context_schema` (dataclass, pydantic model or TypedDict) receives each
parameter as the context field of the same name; a graph without one receives a read-only
mapping (`runtime.context["name"]` or `runtime.context.name`). Either way the context object
notes which parameter each node (or router) reads, so the recorded graph links a node only
to the parameters it used. No globals: the values travel with the run."""

from __future__ import annotations

import dataclasses
import inspect
import types
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, Protocol, get_type_hints, is_typeddict

from pydantic import BaseModel, TypeAdapter, ValidationError

from ..errors import GraphError
from ..node import Node


class ParameterReader(Protocol):
    """What is running now (a node step or a router) and wants to know its parameter reads."""

    def read_parameter(self, name: str) -> None: ...


# The node step or router running in this thread/task, set by the node wrappers.
current_reader: ContextVar[ParameterReader | None] = ContextVar(
    "optograph_langgraph_reader", default=None
)


def note_read(name: str) -> None:
    reader = current_reader.get()
    if reader is not None:
        reader.read_parameter(name)


class ParameterContext(Mapping[str, Any]):
    """The run context of a graph without a context schema: parameters (and any entries the
    caller passed as a dict) by name, readable as items or attributes."""

    __slots__ = ("_values", "_parameter_names")

    def __init__(self, values: Mapping[str, Any], parameter_names: frozenset[str]) -> None:
        object.__setattr__(self, "_values", dict(values))
        object.__setattr__(self, "_parameter_names", parameter_names)

    def __getitem__(self, key: str) -> Any:
        if key in self._parameter_names:
            note_read(key)
        return self._values[key]

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self[key]
        except KeyError:
            raise AttributeError(
                f"the run context has no entry {key!r} (entries: {', '.join(self._values)})"
            ) from None

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("the run context is read-only")

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"ParameterContext({', '.join(self._values)})"


def context_value(context: Any, name: str) -> Any:
    """A context entry by name, whether the context is an object or a mapping."""
    if isinstance(context, Mapping):
        return context[name]
    return getattr(context, name)


def parameter_route(parameter: str, description: str | None = None) -> Callable[..., Hashable]:
    """A router for `add_conditional_edges` that follows a parameter: the route is the
    parameter's value, mapped to a node by the edge's path map. This makes structure
    trainable (which retriever runs, whether a self-check node runs)."""

    def route(state: Any, runtime: Any) -> Hashable:
        return context_value(runtime.context, parameter)  # type: ignore[no-any-return]

    route.__name__ = f"choose_{parameter}"
    route.__qualname__ = route.__name__
    route.__doc__ = description or f"Chooses the route by the value of parameter {parameter!r}."
    route.__optograph_parameter__ = parameter  # type: ignore[attr-defined]
    return route


# -- delivery: building the context object of one run -------------------------------------


class ParameterDelivery:
    """Builds the run context carrying the parameters' current values."""

    def __init__(
        self, parameters: Mapping[str, Node], context_schema: Any, graph_name: str
    ) -> None:
        self.parameters = dict(parameters)
        self.names = frozenset(self.parameters)
        self.schema = context_schema
        self.graph_name = graph_name
        self.kind = _schema_kind(context_schema, graph_name)
        self.tracked_type: type | None = None
        if self.kind in ("dataclass", "pydantic"):
            self._check_fields(_field_names(context_schema, self.kind))
            self.tracked_type = _tracked_subclass(context_schema, self.names)
        elif self.kind == "typeddict":
            self._check_fields(set(get_type_hints(context_schema)))
        self._check_types()

    def _check_fields(self, fields: set[str]) -> None:
        for name in self.parameters:
            if name not in fields:
                raise GraphError(
                    f"parameter {name!r} is not a field of the context schema "
                    f"{self.schema.__name__} of graph {self.graph_name!r} (fields: "
                    f"{', '.join(sorted(fields)) or 'none'}); add the field or rename the parameter"
                )

    def _check_types(self) -> None:
        if self.kind not in ("dataclass", "typeddict", "pydantic"):
            return
        try:
            hints = get_type_hints(self.schema)
        except Exception:  # unresolvable annotations: nothing to check against
            return
        for name, node in self.parameters.items():
            hint = hints.get(name)
            if hint is None or hint is Any:
                continue
            try:
                TypeAdapter(hint).validate_python(node._data, strict=True)
            except ValidationError:
                raise GraphError(
                    f"parameter {name!r} holds {type(node._data).__name__} but the context "
                    f"schema {self.schema.__name__} of graph {self.graph_name!r} declares "
                    f"{name}: {_type_text(hint)}"
                ) from None
            except Exception:  # a type pydantic cannot check: leave it to the node
                continue

    def values(self) -> dict[str, Any]:
        return {name: node._data for name, node in self.parameters.items()}

    def build(self, user_context: Any) -> Any:
        """The context for one run: the caller's context with the parameters filled in."""
        values = self.values()
        if self.kind == "none":
            if user_context is None:
                extra: dict[str, Any] = {}
            elif isinstance(user_context, Mapping):
                extra = dict(user_context)
            else:
                raise GraphError(
                    f"graph {self.graph_name!r} has no context schema, so context= must be a "
                    f"dict to merge with the parameters; got {type(user_context).__name__}"
                )
            return ParameterContext({**extra, **values}, self.names)
        if self.kind == "typeddict":
            base = dict(user_context or {})
            return _TrackedDict({**base, **values}, self.names)
        assert self.tracked_type is not None
        fields = _field_values(user_context, self.schema, self.kind, self.graph_name)
        try:
            return self.tracked_type(**{**fields, **values})
        except (TypeError, ValidationError) as exc:
            first = str(exc).strip().splitlines()[0]
            raise GraphError(
                f"cannot build the context {self.schema.__name__} of graph {self.graph_name!r} "
                f"with parameters {', '.join(sorted(values))}: {first}"
            ) from None


def _schema_kind(schema: Any, graph_name: str) -> str:
    if schema is None:
        return "none"
    if inspect.isclass(schema) and issubclass(schema, BaseModel):
        return "pydantic"
    if dataclasses.is_dataclass(schema) and inspect.isclass(schema):
        return "dataclass"
    if is_typeddict(schema):
        return "typeddict"
    raise GraphError(
        f"graph {graph_name!r}: context schema {getattr(schema, '__name__', schema)!r} is not a "
        "dataclass, pydantic model or TypedDict, so parameters cannot be passed through it"
    )


def _field_names(schema: Any, kind: str) -> set[str]:
    if kind == "pydantic":
        return set(schema.model_fields)
    return {f.name for f in dataclasses.fields(schema) if f.init}


def _field_values(user_context: Any, schema: Any, kind: str, graph_name: str) -> dict[str, Any]:
    if user_context is None:
        return {}
    if isinstance(user_context, Mapping):
        return dict(user_context)
    if not isinstance(user_context, schema):
        raise GraphError(
            f"graph {graph_name!r}: context= must be a {schema.__name__} or a dict; "
            f"got {type(user_context).__name__}"
        )
    names = _field_names(schema, kind)
    return {name: getattr(user_context, name) for name in names}


def _tracked_subclass(schema: type, names: frozenset[str]) -> type:
    """A subclass of the context schema whose parameter fields note who reads them; an
    instance still passes `isinstance(ctx, schema)` and reads like the original."""

    def __getattribute__(self: Any, attr: str) -> Any:  # noqa: N807
        if attr in names:
            note_read(attr)
        return super(tracked, self).__getattribute__(attr)  # type: ignore[arg-type]

    namespace: dict[str, Any] = {
        "__getattribute__": __getattribute__,
        "__module__": schema.__module__,
    }
    if "__slots__" in vars(schema):
        namespace["__slots__"] = ()
    tracked = types.new_class(schema.__name__, (schema,), {}, lambda ns: ns.update(namespace))
    tracked.__qualname__ = schema.__qualname__
    return tracked


class _TrackedDict(dict):  # type: ignore[type-arg]
    """The run context of a TypedDict schema: a dict whose parameter keys note their readers."""

    def __init__(self, values: Mapping[str, Any], names: frozenset[str]) -> None:
        super().__init__(values)
        self._parameter_names = names

    def __getitem__(self, key: Any) -> Any:
        if key in self._parameter_names:
            note_read(key)
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        if key in self._parameter_names and key in self:
            note_read(key)
        return super().get(key, default)


def _type_text(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


# -- which parameters the graph's code can read -------------------------------------------


def names_used_by(functions: list[Callable[..., Any]], depth: int = 3) -> set[str] | None:
    """Attribute names and string constants the functions (and the module-level functions
    they call, `depth` levels down) use; None when some function's code is not Python code
    we can read, so no conclusion can be drawn."""
    found: set[str] = set()
    seen: set[int] = set()
    for fn in functions:
        if not _collect(fn, found, seen, depth):
            return None
    return found


def _collect(fn: Any, found: set[str], seen: set[int], depth: int) -> bool:
    target = inspect.unwrap(fn) if callable(fn) else fn
    parameter = getattr(target, "__optograph_parameter__", None)
    if parameter is not None:
        found.add(parameter)
        return True
    code = getattr(target, "__code__", None)
    globals_ = getattr(target, "__globals__", None)
    if code is None:  # a callable object: read its __call__
        method = getattr(type(target), "__call__", None)  # noqa: B004
        code = getattr(method, "__code__", None)
        globals_ = getattr(method, "__globals__", None)
        if code is None:
            return False
    _collect_code(code, globals_ or {}, found, seen, depth)
    return True


def _collect_code(
    code: types.CodeType, globals_: dict[str, Any], found: set[str], seen: set[int], depth: int
) -> None:
    if id(code) in seen:
        return
    seen.add(id(code))
    found.update(code.co_names)
    for const in code.co_consts:
        if isinstance(const, str):
            found.add(const)
        elif isinstance(const, types.CodeType):
            _collect_code(const, globals_, found, seen, depth)
    if depth <= 0:
        return
    for name in code.co_names:
        value = globals_.get(name)
        inner = getattr(value, "__code__", None)
        if isinstance(value, types.FunctionType) and inner is not None:
            _collect_code(inner, value.__globals__, found, seen, depth - 1)
