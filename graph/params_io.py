"""Save parameters to JSON and load them back, by name. Never pickle: a parameter file is
data a user can read and edit."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import GraphError
from .node import PARAMETER, Node


def _by_name(parameters: Iterable[Node]) -> dict[str, Node]:
    named: dict[str, Node] = {}
    for p in parameters:
        if not isinstance(p, Node) or p.kind != PARAMETER:
            raise GraphError(f"expected parameters (trainable nodes); got {p!r:.80}")
        if p.name in named:
            raise GraphError(f"two parameters share the name {p.name!r}")
        named[p.name] = p
    return named


def parameters_to_dict(parameters: Iterable[Node]) -> dict[str, Any]:
    values = {}
    for name, p in _by_name(parameters).items():
        try:
            json.dumps(p._data)
        except (TypeError, ValueError) as exc:
            raise GraphError(
                f"parameter {name!r} holds {type(p._data).__name__}, which is not "
                f"JSON-serialisable ({exc})"
            ) from None
        values[name] = p._data
    return values


def save_parameters(parameters: Iterable[Node], path: str | os.PathLike[str]) -> None:
    """Write {name: value} as JSON, atomically (a crash leaves the old file intact)."""
    write_json_atomically(Path(path), parameters_to_dict(parameters))


def write_json_atomically(target: Path, document: Any) -> None:
    """Write `document` as indented JSON to `target` (atomically: write_text_atomically)."""
    write_text_atomically(target, json.dumps(document, indent=2))


def write_text_atomically(target: Path, text: str) -> None:
    """Write `text` to `target` through a temporary file in the same folder, so a crash
    leaves the old file intact."""
    fd, tmp = tempfile.mkstemp(dir=target.parent or Path("."), prefix=f".{target.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, target)


def load_parameters(parameters: Iterable[Node], path: str | os.PathLike[str]) -> None:
    """Set each parameter from the file. The whole file is checked first: a file that names
    an unknown parameter, or is not a JSON object, changes nothing."""
    named = _by_name(parameters)
    try:
        values = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise GraphError(f"{path}: no such parameter file") from None
    except json.JSONDecodeError as exc:
        raise GraphError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(values, dict):
        raise GraphError(f"{path}: expected a JSON object of {{name: value}}; got {type(values).__name__}")
    unknown = sorted(set(values) - set(named))
    if unknown:
        raise GraphError(
            f"{path}: unknown parameter(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(map(repr, named))}"
        )
    for name, value in values.items():
        named[name].set(value)
