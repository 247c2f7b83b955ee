"""YAML loading that remembers where every value came from, so a validation error can name
the line of the field at fault."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import TaskError

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


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
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


def load_located(path: Path) -> LocatedYaml:
    """Parse a YAML file; TaskError (file, line, what) when it is not usable YAML."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TaskError(f"{path}: no such task file") from None
    except IsADirectoryError:
        raise TaskError(f"{path}: is a folder, not a task file") from None
    except UnicodeDecodeError as exc:
        raise TaskError(f"{path}: not a text file ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise TaskError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        root = yaml.compose(text, Loader=_UniqueKeyLoader)
        data = yaml.load(text, Loader=_UniqueKeyLoader) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise TaskError(f"{path}{where}: not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise TaskError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if root is None:
        raise TaskError(f"{path}: the task file is empty; expected a mapping with name, workflow, ...")
    lines: dict[Location, int] = {}
    _walk(root, (), lines)
    return LocatedYaml(data, lines)
