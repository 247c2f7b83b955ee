"""YAML loading that remembers where every value came from, so a validation error can name
the line of the field at fault."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import TaskError
from .paths import read_text_file

Location = tuple[str | int, ...]


class LocatedYaml:
    """The plain data of a YAML document plus the line (1-based) of every key and item."""

    def __init__(self, data: Any, lines: dict[Location, int]) -> None:
        self.data = data
        self.lines = lines

    def line_of(self, location: Location) -> int | None:
        """The line of the deepest part of `location` that exists in the document."""
        loc = tuple(location)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), None)


def _walk(node: yaml.Node, location: Location, lines: dict[Location, int]) -> None:
    lines.setdefault(location, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            child = (*location, key)
            lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*location, index)
            lines[child] = item.start_mark.line + 1
            _walk(item, child, lines)


MAX_DEPTH = 100  # nesting levels of a document (composed, and with aliases expanded)
MAX_ALIASES = 1000  # alias uses in one document
MAX_NODES = 100_000  # values of a document with every alias expanded ("billion laughs")
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Limits(yaml.YAMLError):
    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem)
        self.problem = problem
        self.mark = mark


class _SafeLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader (plain data only, merge keys `<<: *defaults` included) that
    rejects a key given twice in one mapping (PyYAML keeps the last), a document nested
    deeper than MAX_DEPTH and one using more than MAX_ALIASES aliases."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _Limits(f"more than {MAX_ALIASES} aliases", event.start_mark)
            return super().compose_node(parent, index)  # type: ignore[no-untyped-call]
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Limits(f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
            return super().compose_node(parent, index)  # type: ignore[no-untyped-call]
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue  # merged keys may be overridden by the mapping's own keys
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            try:
                duplicate = key in seen
            except TypeError:
                duplicate = False
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root: yaml.Node) -> None:
    """Size and depth of the document with every alias expanded (each shared node is
    measured once), and no alias inside the node it names."""
    measured: dict[int, tuple[int, int]] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            kids = [measured[id(k)] for k in _children(node)]
            size = 1 + sum(s for s, _ in kids)
            depth = 1 + max((d for _, d in kids), default=0)
            open_nodes.discard(key)
            if size > MAX_NODES:
                raise _Limits(f"aliases expand to more than {MAX_NODES} values", node.start_mark)
            if depth > MAX_DEPTH:
                raise _Limits(f"aliases expand to more than {MAX_DEPTH} levels", node.start_mark)
            measured[key] = (size, depth)
            continue
        if key in measured:
            continue
        open_nodes.add(key)
        stack.append((node, True))
        for kid in _children(node):
            if id(kid) in open_nodes:
                raise _Limits("an alias refers to a node that contains it", kid.start_mark)
            if id(kid) not in measured:
                stack.append((kid, False))


def parse_yaml(text: str, source: str) -> LocatedYaml | None:
    """Parse YAML text (plain data only, within the limits above); None for an empty
    document. TaskError `source:line: not valid YAML: what` otherwise."""
    loader = _SafeLoader(text)
    try:
        root = loader.get_single_node()  # type: ignore[no-untyped-call]
        if root is None:
            return None
        _check_expansion(root)
        data = loader.construct_document(root)  # type: ignore[no-untyped-call]
    except _Limits as exc:
        where = f":{exc.mark.line + 1}" if exc.mark is not None else ""
        raise TaskError(f"{source}{where}: not valid YAML: {exc.problem}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise TaskError(f"{source}{where}: not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise TaskError(f"{source}: not valid YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:  # a limit above should come first; never a traceback
        raise TaskError(f"{source}: not valid YAML: nested too deeply") from None
    finally:
        loader.dispose()  # type: ignore[no-untyped-call]
    lines: dict[Location, int] = {}
    _walk(root, (), lines)
    return LocatedYaml(data, lines)


def load_located(path: Path) -> LocatedYaml:
    """Read (a regular file, size-capped) and parse a task file; TaskError (file, line,
    what) when it is not usable YAML."""
    located = parse_yaml(read_text_file(path, what="task file"), str(path))
    if located is None:
        raise TaskError(f"{path}: the task file is empty; expected a mapping with name, workflow, ...")
    return located
