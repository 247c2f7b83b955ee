"""Calling a function that an optimizer wrote, across the boundary: code, function name and
arguments go in as JSON, the return value (and, for a method, the changed attributes of
`self`) come back as JSON. Nothing is pickled in either direction."""

from __future__ import annotations

import dataclasses
import json
import sys
import types
from collections.abc import Callable
from typing import Any

from ..node import Node
from .boundary import Outcome, run_boundary
from .config import SandboxConfig, SandboxError
from .runner import TAG, NotSendable, decode, encode
from .secrets import scrub, scrub_value

GLOBAL_VALUE_LIMIT = 64 * 1024  # characters of JSON per plain global sent in


def compile_function(code: str, function_name: str, globals_: dict[str, Any], filename: str) -> Any:
    """Execute `code` in a copy of `globals_` and return the function it defines (inline mode)."""
    namespace = dict(globals_)
    exec(compile(code, filename, "exec"), namespace)
    fn = namespace.get(function_name)
    if not callable(fn):
        raise SandboxError(f"the code does not define a function named {function_name!r}")
    return fn


def _importable(value: Any) -> tuple[str, str] | None:
    """(module, qualified name) when importing that name gives `value` back."""
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        return None
    if module == "__main__" or "<" in qualname or module not in sys.modules:
        return None
    found: Any = sys.modules[module]
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return (module, qualname) if found is value else None


def globals_manifest(globals_: dict[str, Any]) -> dict[str, list[Any]]:
    """What the code sees of its defining module: modules (re-imported inside), functions and
    classes that can be imported by name, and plain JSON values; other names are `absent`."""
    manifest: dict[str, list[Any]] = {}
    for name, value in globals_.items():
        if name.startswith("__"):
            continue
        if isinstance(value, types.ModuleType):
            manifest[name] = ["module", value.__name__]
            continue
        try:
            doc = encode(value)
        except NotSendable:
            found = _importable(value)
            manifest[name] = ["attr", *found] if found else ["absent", type(value).__name__]
            continue
        if len(json.dumps(doc)) <= GLOBAL_VALUE_LIMIT:
            manifest[name] = ["value", doc]
    return manifest


def _attributes(value: Any) -> dict[str, Any] | None:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    found = getattr(value, "__dict__", None)
    return dict(found) if isinstance(found, dict) else None


def encode_argument(value: Any, path: str, depth: int = 0) -> Any:
    """`encode`, and for an object (a dataclass, a LangGraph Runtime) a read-only view of
    its data attributes; the others are named stand-ins. Views only go in, never back."""
    try:
        return encode(value, path)
    except NotSendable:
        attributes = _attributes(value)
        if attributes is None or depth >= 3 or isinstance(value, (type, types.ModuleType)):
            raise
    state: dict[str, Any] = {}
    absent: dict[str, str] = {}
    for name, attr in attributes.items():
        if name.startswith("_"):
            continue
        try:
            state[name] = encode_argument(attr, f"{path}.{name}", depth + 1)
        except NotSendable:
            absent[name] = type(attr).__name__
    return {TAG: ["view", type(value).__name__, state, absent]}


def _sent(value: Any, what: str, function_name: str) -> Any:
    try:
        return encode_argument(value, what)
    except NotSendable as exc:
        raise SandboxError(
            f"{function_name}: {exc}, which cannot be sent into the sandbox (JSON data only)"
        ) from None


def receiver_spec(obj: Any) -> dict[str, Any]:
    """`self` as it crosses the boundary: JSON attributes, nodes holding JSON, the rest absent."""
    state: dict[str, Any] = {}
    nodes: dict[str, Any] = {}
    absent: dict[str, str] = {}
    for name, value in getattr(obj, "__dict__", {}).items():
        try:
            if isinstance(value, Node):
                nodes[name] = encode(value._data)
            else:
                state[name] = encode(value)
        except NotSendable:
            absent[name] = type(value).__name__
    found = _importable(type(obj))
    return {"class": list(found) if found else None, "state": state, "nodes": nodes,
            "absent": absent}


def apply_changes(obj: Any, changes: dict[str, Any], function_name: str) -> None:
    """Set what the method changed on `self` here; all of it or, when some attribute cannot
    come back, none of it and a SandboxError naming that attribute."""
    unsendable = changes.get("unsendable") or {}
    if unsendable:
        name, why = next(iter(unsendable.items()))
        raise SandboxError(
            f"{function_name} set self.{name}, which cannot be sent back from the sandbox "
            f"({why}; JSON data only): no change to self was kept"
        )
    changed = {name: scrub_value(decode(doc)) for name, doc in (changes.get("changed") or {}).items()}
    deleted = list(changes.get("deleted") or [])
    for name in [*changed, *deleted]:
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("__"):
            raise ValueError(f"attribute name {name!r}")
    for name, value in changed.items():
        setattr(obj, name, value)
    for name in deleted:
        if name in getattr(obj, "__dict__", {}):
            delattr(obj, name)


def _check(outcome: Outcome, function_name: str) -> dict[str, Any]:
    reply = outcome.reply
    tail = scrub(outcome.output.strip()[-500:])
    said = f"; its output ended with: {tail}" if tail else ""
    if reply is None:
        raise SandboxError(
            f"{function_name} crashed the process running it (exit code {outcome.exit_code})"
            f"{said}", kind="crash",
        )
    if reply.get("malformed") or not isinstance(reply.get("ok"), bool):
        raise SandboxError(f"{function_name} sent back a malformed reply{said}", kind="crash")
    if not reply["ok"]:
        line = reply.get("line")
        message = scrub(f"{reply.get('type')}: {reply.get('message')}")
        raise SandboxError(message, error_line=line if isinstance(line, int) else None)
    return reply


def run_function(
    code: str,
    function_name: str,
    globals_: dict[str, Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    config: SandboxConfig,
    mode: str,
    receiver: Any = None,
) -> Any:
    """Run `function_name` from `code` in the boundary. With `receiver` (a method's `self`,
    not in `args`), its changed attributes are applied to it here."""
    request = {
        "kind": "call", "code": code, "function": function_name,
        "filename": f"<optograph-code {function_name}>",
        "module": globals_.get("__name__"),
        "globals": globals_manifest(globals_),
        "args": [_sent(a, f"argument {i}", function_name) for i, a in enumerate(args)],
        "kwargs": {k: _sent(v, f"argument {k!r}", function_name) for k, v in kwargs.items()},
        "receiver": receiver_spec(receiver) if receiver is not None else None,
    }
    try:
        reply = _check(run_boundary(request, config, mode), function_name)
    except SandboxError as exc:
        if exc.kind == "timeout":
            raise SandboxError(f"{function_name} {exc}", kind="timeout") from None
        raise
    try:
        value = decode(reply.get("value"))
        if receiver is not None:
            apply_changes(receiver, reply.get("self") or {}, function_name)
    except (ValueError, TypeError, AttributeError, KeyError, RecursionError) as exc:
        raise SandboxError(f"{function_name} sent back a malformed reply ({exc})",
                           kind="crash") from None
    return scrub_value(value)


def process_runner(
    code: str, function_name: str, globals_: dict[str, Any], config: SandboxConfig, mode: str,
    method: bool,
) -> Callable[..., Any]:
    """A callable that runs the code in the boundary; for a method, args[0] is `self`."""

    def run(*args: Any, **kwargs: Any) -> Any:
        if method and args:
            return run_function(code, function_name, globals_, args[1:], kwargs, config, mode,
                                receiver=args[0])
        return run_function(code, function_name, globals_, args, kwargs, config, mode)

    return run


def run_module(
    module: str, argv: list[str], files: dict[str, str], config: SandboxConfig, mode: str
) -> tuple[int | None, str]:
    """Run `python -m module *argv` in the boundary's scratch folder after writing `files`
    there; (its exit status, None when it gave none; its output, secrets scrubbed)."""
    request = {"kind": "module", "module": module, "argv": argv, "files": files}
    outcome = run_boundary(request, config, mode)
    status = outcome.reply.get("value") if outcome.reply else None
    return (status if isinstance(status, int) else None), scrub(outcome.output)
