"""The program that runs inside the isolation boundary (standard library only: it is started
as `python -I -B runner.py` and must not import optograph).

It reads one JSON request on stdin, sets its limits, runs the request and writes one JSON
reply on the stdout it was given; everything the code prints goes to stderr, which the parent
captures. The value codec below is also what the parent uses, so both sides agree on it."""

from __future__ import annotations

import base64
import json
import os
import resource
import sys
import traceback
import types
from typing import Any

TAG = "__og__"


class NotSendable(TypeError):
    """A value that cannot cross the boundary; `path` says where it sits inside the value."""

    def __init__(self, value: Any, path: str = "") -> None:
        self.type_name = type(value).__name__
        self.path = path
        super().__init__(f"{path or 'the value'} is a {self.type_name}")


def encode(value: Any, path: str = "") -> Any:
    """A JSON document for a plain value: None, bool, int, float, str, bytes, and lists,
    tuples, sets and dicts of them (tuples, sets, bytes and non-text keys are tagged)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        if type(value) not in (bool, int, float, str, type(None)):
            raise NotSendable(value, path)  # a subclass (an enum, a numpy scalar) is not data
        return value
    if type(value) is list:
        return [encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if type(value) is tuple:
        return {TAG: ["tuple", [encode(v, f"{path}[{i}]") for i, v in enumerate(value)]]}
    if type(value) in (set, frozenset):
        items = [encode(v, f"{path}{{}}") for v in value]
        return {TAG: [type(value).__name__, items]}
    if type(value) is bytes:
        return {TAG: ["bytes", base64.b64encode(value).decode("ascii")]}
    if type(value) is dict:
        if all(type(k) is str for k in value) and TAG not in value:
            return {k: encode(v, f"{path}[{k!r}]") for k, v in value.items()}
        return {TAG: ["dict", [[encode(k, f"{path} key"), encode(v, f"{path}[{k!r}]")]
                               for k, v in value.items()]]}
    raise NotSendable(value, path)


def decode(doc: Any, views: bool = False) -> Any:
    """The value `encode` wrote (data only: no tag builds anything but the types above).
    views: also read-only attribute views of objects (arguments going in, never replies)."""
    if isinstance(doc, list):
        return [decode(v, views) for v in doc]
    if isinstance(doc, dict):
        tagged = doc.get(TAG)
        if tagged is None:
            return {k: decode(v, views) for k, v in doc.items()}
        kind, body = tagged[0], tagged[1]
        if kind == "tuple":
            return tuple(decode(v, views) for v in body)
        if kind in ("set", "frozenset"):
            return (set if kind == "set" else frozenset)(decode(v, views) for v in body)
        if kind == "bytes":
            return base64.b64decode(body)
        if kind == "dict":
            return {decode(k, views): decode(v, views) for k, v in body}
        if kind == "view" and views:
            return _view(*tagged[1:])
        raise ValueError(f"unknown tag {kind!r}")
    return doc


class View:
    """An object argument inside the boundary: a copy of its data attributes, read-only."""

    _type_name: str

    def __init__(self, type_name: str, attributes: dict[str, Any]) -> None:
        object.__setattr__(self, "_type_name", type_name)
        for name, value in attributes.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{self._type_name} is a read-only copy inside the sandbox")

    def __repr__(self) -> str:
        return f"<{self._type_name} view>"


def _view(type_name: str, state: dict[str, Any], absent: dict[str, str]) -> View:
    attributes: dict[str, Any] = {k: decode(v, True) for k, v in state.items()}
    for name, what in absent.items():
        attributes[name] = _Unavailable(
            f"{type_name}.{name} (a {what}) is not available in the sandbox: only JSON data "
            "and objects of JSON data are sent in")
    return View(type_name, attributes)


# -- inside the boundary --------------------------------------------------------------------


class _Globals(dict):  # type: ignore[type-arg]
    """The code's module namespace: plain values are there; imported modules and importable
    functions or classes of the defining module are imported on first use."""

    def __init__(self, entries: dict[str, list[Any]]) -> None:
        super().__init__()
        self.entries = entries

    def __missing__(self, name: str) -> Any:
        entry = self.entries.get(name)
        if entry is None:
            raise KeyError(name)
        kind = entry[0]
        if kind == "absent":
            raise NameError(
                f"name {name!r} (a {entry[1]} of the defining module) is not available in the "
                "sandbox: only plain JSON values, modules and importable functions/classes are"
            )
        if kind == "value":
            self[name] = decode(entry[1])
            return self[name]
        try:
            value: Any = __import__(entry[1], fromlist=["_"])
            for part in entry[2].split(".") if kind == "attr" else ():
                value = getattr(value, part)
        except Exception as exc:
            raise NameError(f"name {name!r} could not be imported in the sandbox: {exc}") from None
        _untraced()
        self[name] = value
        return value


def _untraced() -> None:
    """A bundled function the code calls (a helper of its module, another method of `self`)
    runs on plain values, as it does inside a traced call outside: tracing is off here."""
    run = sys.modules.get("optograph.graph.run")
    tracing = getattr(run, "_tracing", None)
    if tracing is not None:
        tracing.set(False)


class _Receiver:
    """`self` when its class cannot be imported inside the boundary: its attributes only."""


class _NodeView:
    """A node attribute of `self` inside the boundary: its value as `.data`, read-only."""

    __slots__ = ("data",)
    data: Any

    def __init__(self, data: Any) -> None:
        object.__setattr__(self, "data", data)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a node's value is changed by the optimizer, not by the code")

    def __repr__(self) -> str:
        return f"node({self.data!r})"

    def __getattr__(self, name: str) -> Any:
        # as a node with tracing off: its value's methods (`self.prompt.format(...)`)
        return getattr(object.__getattribute__(self, "data"), name)


def _on_data(name: str) -> Any:
    """An operator of _NodeView that works on its value, as a node's does with tracing off."""

    def forward(self: _NodeView, *args: Any) -> Any:
        plain = [a.data if type(a) is _NodeView else a for a in args]
        return getattr(self.data, name)(*plain)

    forward.__name__ = name
    return forward


for _name in (
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
    "__rtruediv__", "__floordiv__", "__mod__", "__pow__", "__neg__", "__abs__", "__lt__",
    "__le__", "__gt__", "__ge__", "__eq__", "__ne__", "__getitem__", "__len__", "__iter__",
    "__contains__", "__str__", "__format__", "__bool__", "__int__", "__float__",
):
    setattr(_NodeView, _name, _on_data(_name))
_NodeView.__hash__ = None  # type: ignore[assignment]


class _Unavailable:
    """An attribute of `self` that could not be sent in: any use of it says so."""

    def __init__(self, message: str) -> None:
        object.__setattr__(self, "_message", message)

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise AttributeError(object.__getattribute__(self, "_message"))

    def __getattribute__(self, name: str) -> Any:
        raise AttributeError(object.__getattribute__(self, "_message"))

    __call__ = __str__ = __repr__ = __bool__ = __iter__ = __len__ = __getitem__ = _fail
    __eq__ = __add__ = __format__ = __contains__ = _fail
    __hash__ = None  # type: ignore[assignment]


def _limits(limits: dict[str, Any]) -> None:
    def cap(which: int, value: int) -> None:
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass  # a limit above the hard one stays at the hard one

    mb = 1024 * 1024
    cap(resource.RLIMIT_AS, int(limits["memory_mb"]) * mb)
    cap(resource.RLIMIT_CPU, int(limits["cpu_s"]))
    cap(resource.RLIMIT_FSIZE, int(limits["file_mb"]) * mb)
    cap(resource.RLIMIT_CORE, 0)
    if limits.get("processes"):
        cap(resource.RLIMIT_NPROC, int(limits["processes"]))


def _receiver(spec: dict[str, Any]) -> Any:
    obj: Any = None
    if spec.get("class"):
        module, qualname = spec["class"]
        try:
            cls: Any = __import__(module, fromlist=["_"])
            for part in qualname.split("."):
                cls = getattr(cls, part)
            obj = cls.__new__(cls)
        except Exception:
            obj = None
    if obj is None:
        obj = _Receiver()
    for name, value in spec["state"].items():
        object.__setattr__(obj, name, decode(value))
    for name, value in spec["nodes"].items():
        object.__setattr__(obj, name, _NodeView(decode(value)))
    for name, type_name in spec["absent"].items():
        object.__setattr__(obj, name, _Unavailable(
            f"self.{name} (a {type_name}) is not available in the sandbox: only JSON data "
            "and nodes holding JSON data are sent in"))
    return obj


def _changes(obj: Any, spec: dict[str, Any]) -> dict[str, Any]:
    state = getattr(obj, "__dict__", {})
    changed: dict[str, Any] = {}
    unsendable: dict[str, str] = {}
    for name, value in state.items():
        if type(value) in (_NodeView, _Unavailable):
            continue  # sent in as a stand-in and left as it was
        try:
            doc = encode(value, f"self.{name}")
        except NotSendable as exc:
            unsendable[name] = str(exc)
            continue
        if spec["state"].get(name, TAG) != doc:
            changed[name] = doc
    deleted = [n for n in [*spec["state"], *spec["nodes"], *spec["absent"]] if n not in state]
    return {"changed": changed, "deleted": deleted, "unsendable": unsendable}


def _call(request: dict[str, Any]) -> dict[str, Any]:
    namespace = _Globals(request["globals"])
    namespace["__name__"] = request.get("module") or "__sandbox__"
    exec(compile(request["code"], request["filename"], "exec"), namespace)
    fn = namespace.get(request["function"])
    if not callable(fn):
        raise NameError(f"the code does not define a function named {request['function']!r}")
    args = [decode(a, True) for a in request["args"]]
    receiver = request.get("receiver")
    if receiver is not None:
        args.insert(0, _receiver(receiver))
        _untraced()
    result = fn(*args, **{k: decode(v, True) for k, v in request["kwargs"].items()})
    if isinstance(result, types.CoroutineType):
        import asyncio  # only when needed: it takes a while to import

        result = asyncio.run(result)
    try:
        reply: dict[str, Any] = {"ok": True, "value": encode(result, "the return value")}
    except NotSendable as exc:
        return {"ok": False, "type": "NotSendable", "line": None, "message": f"{exc}, which "
                "cannot be sent back from the sandbox (JSON data only)"}
    if receiver is not None:
        reply["self"] = _changes(args[0], receiver)
    return reply


def _module(request: dict[str, Any]) -> dict[str, Any]:
    for name, text in request["files"].items():
        with open(os.path.join(os.getcwd(), name), "w") as f:
            f.write(text)
    sys.path.insert(0, os.getcwd())
    sys.argv = [request["module"], *request["argv"]]
    import runpy
    try:
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    return {"ok": True, "value": code if isinstance(code, int) else 1}


def _failure(exc: BaseException, filename: str) -> dict[str, Any]:
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    if isinstance(exc, SyntaxError) and exc.filename == filename:
        line = exc.lineno
    return {"ok": False, "type": type(exc).__name__, "message": str(exc), "line": line}


def main() -> None:
    reply_fd = os.dup(1)
    os.dup2(2, 1)  # what the code prints goes to the captured stderr, never to the reply
    request = json.loads(sys.stdin.buffer.read())
    _limits(request["limits"])
    sys.path[:0] = [p for p in request.get("sys_path", []) if p not in sys.path]
    try:
        reply = _call(request) if request["kind"] == "call" else _module(request)
    except BaseException as exc:  # everything, MemoryError and SystemExit included, is data
        traceback.print_exc()
        reply = _failure(exc, request.get("filename", ""))
    sys.stdout.flush()
    sys.stderr.flush()
    data = json.dumps(reply).encode() + b"\n"
    view = memoryview(data)
    while view:
        view = view[os.write(reply_fd, view):]
    os._exit(0)


if __name__ == "__main__":
    main()
