"""Agent classes as Trace users write them: `@model` (or the base class `Module`) makes a
class whose trainable attributes (parameter nodes) and trainable bundled methods are its
parameters, per instance, under stable dotted names (`prompt`, `decide`, `planner.prompt`,
`tools.0.decide`), with a JSON state (`state_dict`, `save`, `load`) and `export` to plain
Python (module_export.py)."""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .bundle import Bundle, instance_key
from .errors import GraphError
from .node import PARAMETER, Node
from .params_io import write_json_atomically

T = TypeVar("T", bound=type)
RESERVED = "__og_method__"  # instance attributes holding an instance's trainable methods


@dataclass(frozen=True)
class Entry:
    """One parameter of a module: its dotted name, its node, and for a code parameter the
    name of the function its source must define."""

    name: str
    node: Node
    function: str | None = None
    access: str = ""  # the Python path from the module: ".planner.prompt", ".tools[0].decide"


class Module:
    """Base class of an agent whose parameters are its trainable attributes and methods.

    `module(...)` calls `forward(...)`. Copies: `copy.copy(m)` shares m's parameters (a
    shallow copy, as for any object); `copy.deepcopy(m)` and pickle give new parameters with
    the same values (and the same dotted names)."""

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.forward is not defined")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def named_parameters(self) -> list[tuple[str, Node]]:
        """(dotted name, parameter) pairs: trainable methods (`decide`), trainable node
        attributes (`prompt`), and those of nested modules, also inside lists, tuples and
        dicts (`planner.prompt`, `tools.0.decide`). A shared parameter appears once."""
        return [(e.name, e.node) for e in entries(self)]

    def parameters(self) -> list[Node]:
        """The parameters, for an optimizer: `og.OptoPrime(agent.parameters())`."""
        return [e.node for e in entries(self)]

    def state_dict(self) -> dict[str, Any]:
        """{dotted name: value}; a trainable method's value is its source text."""
        return {e.name: e.node._data for e in entries(self)}

    def load_state_dict(self, state: Mapping[str, Any], *, where: str = "state") -> None:
        """Set every parameter from `state`. All of it is checked first (the names must be
        exactly this module's, code must define the method's function, a value must keep its
        JSON kind): a state that does not fit changes nothing."""
        updates = check_state(entries(self), state, where, type(self).__name__)
        for target, value in updates:
            target.set(value)

    def use_parameters(self, parameters: Mapping[str, Node]) -> None:
        """Make the given parameter nodes this module's, by dotted name (as named_parameters
        names them): a task file's parameter nodes, or a parameter shared by two agents. All
        names are checked first; a name this module does not have changes nothing."""
        known = {e.name: e for e in entries(self)}
        for name, value in parameters.items():
            if name not in known:
                raise GraphError(f"use_parameters: {type(self).__name__} has no parameter "
                                 f"{name!r} (it has: {', '.join(map(repr, known))})")
            if not isinstance(value, Node) or value.kind != PARAMETER:
                raise GraphError(f"use_parameters: {name!r} must be a trainable node; got "
                                 f"{value!r:.60}")
        for name, value in parameters.items():
            *path, last = name.split(".")
            holder: Any = self
            for part in path:
                if isinstance(holder, (list, tuple)):
                    holder = holder[int(part)]
                elif isinstance(holder, dict):
                    holder = holder[part]
                else:
                    holder = getattr(holder, part)
            _replace(holder, last, value, known[name])

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state as JSON (atomically): {"class": ..., "parameters": {...}}."""
        document = {"class": class_path(type(self)), "parameters": json_state(entries(self))}
        target = Path(path)
        if not target.parent.is_dir():
            raise GraphError(f"{path}: cannot save: folder {target.parent} does not exist")
        write_json_atomically(target, document)

    def load(self, path: str | os.PathLike[str]) -> None:
        """Set the parameters from a file written by `save` (or a plain {name: value} JSON
        object). A file that does not fit this module changes nothing."""
        try:
            document = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise GraphError(f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise GraphError(f"{path}: cannot read: {exc}") from None
        except json.JSONDecodeError as exc:
            raise GraphError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
        if isinstance(document, dict) and isinstance(document.get("parameters"), dict):
            document = document["parameters"]
        if not isinstance(document, dict):
            raise GraphError(f"{path}: expected a JSON object of parameters; got "
                             f"{type(document).__name__}")
        self.load_state_dict(document, where=str(path))

    def export(self, path: str | os.PathLike[str]) -> None:
        """Write this module's class as a plain Python file, with the learned code of its
        trainable methods and the learned values of its node attributes written in; the file
        imports neither optograph nor anything the class does not. See module_export.py."""
        from .module_export import export_module

        export_module(self, path)


def model(cls: T) -> T:
    """Class decorator (Trace's `@model`): the class, with `Module`'s methods. The result
    keeps the class's name, qualified name and module, so instances pickle."""
    if not isinstance(cls, type):
        raise GraphError(f"@model decorates a class; got {type(cls).__name__}")
    if issubclass(cls, Module):
        return cls
    namespace = {
        "__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__,
        "__og_model__": cls,
    }
    made = type(cls.__name__, (cls, Module), namespace)
    for attr, value in vars(cls).items():  # pickle finds the methods' class by its name: made
        if isinstance(value, Bundle) and value._owner is not None and value._owner[0] is cls:
            value._owner = (made, attr)
    return made  # type: ignore[return-value]


# -- the walk ---------------------------------------------------------------------------
def entries(module: Any) -> list[Entry]:
    """The parameters of `module` and of what it holds, each once, in a stable order: a
    class's trainable methods (base classes first), then the instance's attributes in the
    order they were set."""
    found: list[Entry] = []
    seen_nodes: set[Node] = set()
    for name, access, item, function in _walk(module, "", "", {id(module)}):
        if isinstance(item, Node) and item not in seen_nodes:
            seen_nodes.add(item)
            found.append(Entry(name, item, function, access))
    return found


def submodules(module: Any) -> list[tuple[str, Any]]:
    """(access path, module) of every module `module` holds, itself first as ("", module)."""
    found = [("", module)]
    for _, access, item, _ in _walk(module, "", "", {id(module)}):
        if isinstance(item, Module):
            found.append((access, item))
    return found


def trainable_methods(cls: type) -> list[str]:
    """The names of `cls`'s trainable bundled methods (base classes' first)."""
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            if isinstance(value, Bundle) and value.code is not None and attr not in names:
                names.append(attr)
    return names


# (dotted name, Python access path, parameter node or nested module, function name of code)
Found = Iterator[tuple[str, str, Any, str | None]]


def _walk(obj: Any, prefix: str, access: str, seen: set[int]) -> Found:
    for attr in trainable_methods(type(obj)):
        method = getattr(obj, attr)
        fn = getattr(method, "__func__", method)
        if isinstance(fn, Bundle) and fn.code is not None:
            yield prefix + attr, f"{access}.{attr}", fn.code, fn.fn.__name__
    try:
        attributes = vars(obj)
    except TypeError:
        return
    for attr, value in attributes.items():
        if not attr.startswith(RESERVED):
            yield from _value(value, prefix + attr, f"{access}.{attr}", seen)


def _value(value: Any, name: str, access: str, seen: set[int]) -> Found:
    if isinstance(value, Node):
        if value.kind == PARAMETER:
            yield name, access, value, None
    elif isinstance(value, Bundle):
        if value.code is not None:
            yield name, access, value.code, value.fn.__name__
    elif id(value) in seen:
        return
    elif isinstance(value, Module):
        seen.add(id(value))
        yield name, access, value, None
        yield from _walk(value, name + ".", access, seen)
    elif isinstance(value, (list, tuple)):
        seen.add(id(value))
        for i, item in enumerate(value):
            yield from _value(item, f"{name}.{i}", f"{access}[{i}]", seen)
    elif isinstance(value, dict):
        seen.add(id(value))
        for key, item in value.items():
            if isinstance(key, str):
                yield from _value(item, f"{name}.{key}", f"{access}[{key!r}]", seen)


def _replace(holder: Any, key: str, value: Node, entry: Entry) -> None:
    if isinstance(holder, list):
        holder[int(key)] = value
    elif isinstance(holder, dict):
        holder[key] = value
    elif isinstance(holder, tuple):
        raise GraphError(f"use_parameters: {entry.name!r} is held in a tuple, which cannot change")
    elif key in trainable_methods(type(holder)):
        method = getattr(holder, key).__func__
        assert isinstance(method, Bundle) and method._owner is not None
        vars(holder)[instance_key(*method._owner)] = method._instance_bundle(value)
    elif isinstance(getattr(holder, key), Bundle):
        getattr(holder, key).code = value
    else:
        setattr(holder, key, value)


# -- state ------------------------------------------------------------------------------
def class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def json_state(found: list[Entry]) -> dict[str, Any]:
    """{name: value}, or a one-line error naming the attribute whose value JSON cannot hold."""
    state = {}
    for e in found:
        try:
            json.dumps(e.node._data, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise GraphError(
                f"attribute {e.name!r} holds {type(e.node._data).__name__}, which cannot be "
                f"saved as JSON ({exc})"
            ) from None
        state[e.name] = e.node._data
    return state


def check_state(
    found: list[Entry], state: Mapping[str, Any], where: str, owner: str
) -> list[tuple[Node, Any]]:
    """The (parameter, value) updates `state` asks for, or GraphError naming `where` and
    every name or value that does not fit. Nothing is applied here."""
    if not isinstance(state, Mapping):
        raise GraphError(f"{where}: expected a mapping of parameters; got {type(state).__name__}")
    by_name = {e.name: e for e in found}
    problems = []
    unknown = [name for name in state if name not in by_name]
    missing = [name for name in by_name if name not in state]
    if unknown:
        problems.append(f"unknown parameter(s) {', '.join(map(repr, unknown))}")
    if missing:
        problems.append(f"missing parameter(s) {', '.join(map(repr, missing))}")
    updates = []
    for name, value in state.items():
        entry = by_name.get(name)
        if entry is None:
            continue
        problem = _misfit(entry, value)
        if problem:
            problems.append(f"{name!r}: {problem}")
        else:
            updates.append((entry.node, value))
    if problems:
        raise GraphError(f"{where}: does not fit {owner}: {'; '.join(problems)}")
    return updates


def _misfit(entry: Entry, value: Any) -> str | None:
    if entry.function is not None:
        if not isinstance(value, str):
            return f"expected the source of {entry.function}(); got {type(value).__name__}"
        try:
            tree = ast.parse(value)
        except SyntaxError as exc:
            return f"the code does not parse (line {exc.lineno}: {exc.msg})"
        defined = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        if entry.function not in defined:
            return f"the code does not define {entry.function}() (defines: {', '.join(defined) or 'nothing'})"
        return None
    current = entry.node._data
    if current is not None and value is not None and _kind(current) != _kind(value):
        return f"expected {_kind(current)}, got {_kind(value)}"
    return None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
