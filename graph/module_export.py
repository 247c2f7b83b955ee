"""Module.export: a module's class written out as a plain Python file, with what was learned
written in, that runs without optograph.

What the file holds: the module's class (and the classes of the modules it holds, and their
user-defined base classes), each from its source, with
- each trainable method's body replaced by the code its parameter holds now (one version per
  class: two instances of a class that learned different code are refused);
- `og.node(value, ...)` replaced by `value`, `self.attr.data` by `self.attr` for node
  attributes, and decorators, base classes and annotations that name optograph dropped;
- at the end of the exported class's `__init__`, the learned value of every parameter
  attribute (`self.prompt = '...'`, `self.planner.prompt = ...`) as a Python literal;
plus the imports and module-level definitions of the class's own file that the classes use.
Anything else that refers to optograph is refused with the line that does, so the written file
never imports it."""

from __future__ import annotations

import ast
import inspect
import os
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bundle import Bundle
from .errors import GraphError
from .module import Module, entries, submodules, trainable_methods
from .node import Node
from .params_io import write_text_atomically

SOURCE_MODULE = "optograph"


@dataclass
class _Context:
    """What the file that defines a class binds to optograph."""

    tree: ast.Module
    modules: set[str] = field(default_factory=set)  # `import optograph as og` -> "og"
    names: set[str] = field(default_factory=set)  # `from optograph import node` -> "node"
    node_names: set[str] = field(default_factory=set)  # names bound to optograph's node()

    @property
    def bound(self) -> set[str]:
        return self.modules | self.names


def export_module(module: Module, path: str | os.PathLike[str]) -> None:
    target = Path(path)
    if not target.parent.is_dir():
        raise GraphError(f"{path}: cannot export: folder {target.parent} does not exist")
    root = type(module)
    modules = submodules(module)
    classes = _classes([type(m) for _, m in modules])
    code = _learned_code(module, modules)
    values = _learned_values(module)
    contexts = {c.__module__: _context(c) for c in classes}
    written = [
        _class_tree(c, contexts[c.__module__], code, _node_attributes(c, modules),
                    values if _source_class(root) is c else None, root, [type(m) for _, m in modules])
        for c in classes
    ]
    text = _render(root, classes, written, contexts)
    write_text_atomically(target, text)


# -- what to write ----------------------------------------------------------------------
def _source_class(cls: type) -> type:
    """The class as its user wrote it (`@model` makes a subclass of it)."""
    return vars(cls).get("__og_model__", cls)  # type: ignore[no-any-return]


def _classes(types_: list[type]) -> list[type]:
    """The user's classes to write, base classes before the classes built on them."""
    ordered: list[type] = []
    for cls in types_:
        for klass in reversed(_source_class(cls).__mro__):
            if klass is object or klass is Module or klass.__module__ in ("builtins",):
                continue
            if klass.__module__.split(".")[0] == SOURCE_MODULE or "__og_model__" in vars(klass):
                continue
            if klass not in ordered:
                ordered.append(klass)
    first = {c.__module__: i for i, c in reversed(list(enumerate(ordered)))}
    return sorted(ordered, key=lambda c: (first[c.__module__], _line(c)))


def _line(cls: type) -> int:
    try:
        return inspect.getsourcelines(cls)[1]
    except (OSError, TypeError):
        return 0


def _learned_code(module: Module, modules: list[tuple[str, Any]]) -> dict[tuple[type, str], str]:
    """{(defining class, method): source} of every trainable method held."""
    code: dict[tuple[type, str], str] = {}
    method_nodes: set[Node] = set()
    for access, m in modules:
        for attr in trainable_methods(type(m)):
            bundle = getattr(m, attr).__func__
            assert isinstance(bundle, Bundle) and bundle.code is not None and bundle._owner
            method_nodes.add(bundle.code)
            key = (_source_class(bundle._owner[0]), attr)
            source = bundle.code._data
            if code.setdefault(key, source) != source:
                raise GraphError(
                    f"export: two instances of {key[0].__qualname__} (one at self{access}) "
                    f"learned different code for {attr}(); a file holds one version per class"
                )
    for e in entries(module):
        if e.function is not None and e.node not in method_nodes:
            raise GraphError(
                f"export: attribute {e.name!r} is a bundled function held by the instance; "
                "export writes trainable methods and node attributes"
            )
    return code


def _learned_values(module: Module) -> list[tuple[str, str]]:
    """(access path, literal) of every parameter attribute (code parameters excluded)."""
    lines = []
    for e in entries(module):
        if e.function is not None:
            continue
        value = e.node._data
        text = repr(value)
        try:
            same = ast.literal_eval(text) == value and type(ast.literal_eval(text)) is type(value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            same = False
        if not same:
            raise GraphError(
                f"export: attribute {e.name!r} holds {type(value).__name__}, which cannot be "
                "written as a Python literal"
            )
        lines.append((e.access, text))
    return lines


def _node_attributes(cls: type, modules: list[tuple[str, Any]]) -> set[str]:
    names: set[str] = set()
    for _, m in modules:
        if isinstance(m, cls):
            names |= {k for k, v in vars(m).items() if isinstance(v, Node)}
    return names


# -- reading the source -----------------------------------------------------------------
def _context(cls: type) -> _Context:
    defining = sys.modules.get(cls.__module__)
    try:
        tree = ast.parse(inspect.getsource(defining)) if defining else ast.Module([], [])
    except (OSError, TypeError):
        tree = ast.Module([], [])
    context = _Context(tree)
    for stmt in tree.body:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.name.split(".")[0] == SOURCE_MODULE:
                    context.modules.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(stmt, ast.ImportFrom) and (stmt.module or "").split(".")[0] == SOURCE_MODULE:
            for alias in stmt.names:
                context.names.add(alias.asname or alias.name)
                if alias.name == "node":
                    context.node_names.add(alias.asname or alias.name)
    return context


def _class_tree(
    cls: type,
    context: _Context,
    code: dict[tuple[type, str], str],
    node_attributes: set[str],
    values: list[tuple[str, str]] | None,
    root: type,
    module_types: list[type],
) -> ast.ClassDef:
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        raise GraphError(f"export: the source of class {cls.__qualname__} is not available") from None
    tree = ast.parse(source).body[0]
    assert isinstance(tree, ast.ClassDef)
    body: list[ast.stmt] = []
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and (cls, stmt.name) in code:
            stmt = _learned_function(code[(cls, stmt.name)], stmt, cls)
        body.append(stmt)
    tree.body = body
    if values:
        _append_to_init(tree, values, root)
    if _calls_forward(cls, module_types):
        tree.body.append(ast.parse(_CALL).body[0])
    stripped = _Strip(context, node_attributes).visit(tree)
    assert isinstance(stripped, ast.ClassDef)
    return stripped


_CALL = "def __call__(self, *args, **kwargs):\n    return self.forward(*args, **kwargs)\n"


def _calls_forward(cls: type, module_types: list[type]) -> bool:
    """Whether instances are called through Module.__call__ (which the file then writes)."""
    return "__call__" not in vars(cls) and any(
        _source_class(m) is cls and m.__call__ is Module.__call__ for m in module_types
    )


def _learned_function(
    source: str, original: ast.FunctionDef | ast.AsyncFunctionDef, cls: type
) -> ast.stmt:
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError as exc:
        raise GraphError(
            f"export: the learned code of {cls.__qualname__}.{original.name} does not parse "
            f"(line {exc.lineno}: {exc.msg})"
        ) from None
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stmt.name = original.name
            return stmt
    raise GraphError(
        f"export: the learned code of {cls.__qualname__}.{original.name} defines no function"
    )


def _append_to_init(tree: ast.ClassDef, values: list[tuple[str, str]], root: type) -> None:
    """Write the learned values into __init__: in place of `self.attr = ...` where __init__
    sets that attribute itself, else at its end."""
    init = next((s for s in tree.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"),
                None)
    if init is not None:
        remaining = []
        for access, literal in values:
            target = next((s for s in init.body if isinstance(s, ast.Assign)
                           and len(s.targets) == 1 and ast.unparse(s.targets[0]) == f"self{access}"),
                          None)
            if target is None:
                remaining.append((access, literal))
            else:
                target.value = ast.parse(literal, mode="eval").body
        init.body.extend(ast.parse("\n".join(f"self{a} = {v}" for a, v in remaining)).body)
        return
    learned = ast.parse("\n".join(f"self{a} = {v}" for a, v in values)).body
    made = ast.parse(
        "def __init__(self, *args, **kwargs):\n    super().__init__(*args, **kwargs)\n"
    ).body[0]
    assert isinstance(made, ast.FunctionDef)
    made.body.extend(learned)
    tree.body.insert(1 if ast.get_docstring(tree) else 0, made)


def _uses(tree: ast.AST | None, names: set[str]) -> bool:
    return tree is not None and any(
        isinstance(n, ast.Name) and n.id in names for n in ast.walk(tree)
    )


class _Strip(ast.NodeTransformer):
    """Drops what refers to optograph where plain Python means the same."""

    def __init__(self, context: _Context, node_attributes: set[str]) -> None:
        self.context = context
        self.node_attributes = node_attributes

    def _is_node_call(self, call: ast.Call) -> bool:
        f = call.func
        if isinstance(f, ast.Name):
            return f.id in self.context.node_names
        return (isinstance(f, ast.Attribute) and f.attr == "node"
                and isinstance(f.value, ast.Name) and f.value.id in self.context.modules)

    def visit_Call(self, call: ast.Call) -> Any:
        if self._is_node_call(call):
            first = call.args[0] if call.args else next(
                (k.value for k in call.keywords if k.arg in ("value", "data")), None)
            if first is not None:
                return self.visit(first)
        return self.generic_visit(call)

    def visit_Attribute(self, attribute: ast.Attribute) -> Any:
        inner = attribute.value
        if (attribute.attr == "data" and isinstance(inner, ast.Attribute)
                and isinstance(inner.value, ast.Name) and inner.value.id == "self"
                and inner.attr in self.node_attributes):
            return inner
        return self.generic_visit(attribute)

    def _function(self, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> Any:
        bound = self.context.bound
        fn.decorator_list = [d for d in fn.decorator_list if not _uses(d, bound)]
        if _uses(fn.returns, bound):
            fn.returns = None
        for arg in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs,
                    fn.args.vararg, fn.args.kwarg):
            if arg is not None and _uses(arg.annotation, bound):
                arg.annotation = None
        return self.generic_visit(fn)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        return self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> Any:
        return self._function(node)

    def visit_ClassDef(self, cls: ast.ClassDef) -> Any:
        bound = self.context.bound
        cls.decorator_list = [d for d in cls.decorator_list if not _uses(d, bound)]
        cls.bases = [b for b in cls.bases if not _uses(b, bound)]
        return self.generic_visit(cls)


# -- the file ---------------------------------------------------------------------------
def _render(
    root: type, classes: list[type], written: list[ast.ClassDef], contexts: dict[str, _Context]
) -> str:
    defined = {c.__name__ for c in classes}
    needed = _names(written) - defined
    future: list[ast.stmt] = []
    imports: list[ast.stmt] = []
    helpers: list[ast.stmt] = []
    for context in contexts.values():
        more = _definitions(context, needed, defined)
        future += [s for s in more if isinstance(s, ast.ImportFrom) and s.module == "__future__"]
        imports += [s for s in more if isinstance(s, (ast.Import, ast.ImportFrom))
                    and s not in future]
        helpers += [s for s in more if not isinstance(s, (ast.Import, ast.ImportFrom))]
    cls = _source_class(root)
    doc = (f'"""{cls.__name__}, exported by optograph from {cls.__module__}.{cls.__qualname__} '
           'with its learned code and values.\n\nPlain Python: it does not import optograph."""')
    body = ast.Module([*future, *imports, *helpers, *written], [])
    text = doc + "\n\n" + ast.unparse(body) + "\n"
    tree = ast.parse(text)
    for context in contexts.values():
        for n in ast.walk(tree):
            if isinstance(n, ast.Name) and n.id in context.bound:
                line = text.splitlines()[n.lineno - 1].strip()
                raise GraphError(
                    f"export: {cls.__qualname__} uses {n.id!r} from optograph, which the "
                    f"exported file cannot import: {line[:100]}"
                )
    compile(text, "<export>", "exec")
    return text


def _names(trees: list[Any]) -> set[str]:
    return {n.id for t in trees for n in ast.walk(t) if isinstance(n, ast.Name)}


def _bound_by(stmt: ast.stmt) -> set[str]:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return {a.asname or a.name.split(".")[0] for a in stmt.names}
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return set()


def _definitions(context: _Context, needed: set[str], defined: set[str]) -> list[ast.stmt]:
    """The module-level statements (imports trimmed to the names used) that define what the
    written classes use, and what those use in turn, in source order."""
    chosen: dict[int, ast.stmt] = {}
    wanted = set(needed)
    changed = True
    while changed:
        changed = False
        for i, stmt in enumerate(context.tree.body):
            if i in chosen:
                continue
            names = _bound_by(stmt) & wanted
            if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
                chosen[i] = stmt
                continue
            if not names or names & context.bound or _bound_by(stmt) & defined:
                continue
            if not isinstance(stmt, (ast.Import, ast.ImportFrom)):
                stmt = _Strip(context, set()).visit(stmt)
                wanted |= _names([stmt])
                changed = True
            chosen[i] = stmt
    for stmt in chosen.values():
        if isinstance(stmt, ast.Import) or (
                isinstance(stmt, ast.ImportFrom) and stmt.module != "__future__"):
            stmt.names = [a for a in stmt.names if (a.asname or a.name.split(".")[0]) in wanted]
    return [chosen[i] for i in sorted(chosen)]
