"""A function as the optimizer sees it (name, doc, source) and, when its source is a
parameter, the callable for the code that parameter holds now. Shared by @bundle and by
traced LangGraph nodes."""

from __future__ import annotations

import asyncio
import inspect
import textwrap
from collections.abc import Callable
from typing import Any

from .node import Node
from .op import OpInfo
from .sandbox import (
    Mode,
    SandboxConfig,
    compile_function,
    process_runner,
    ready_mode,
    sandbox_config,
)

Sandbox = Mode | SandboxConfig | None


def function_source(fn: Callable[..., Any]) -> tuple[str, int]:
    """The function's source from its `def` line (decorators dropped), and that line's number."""
    try:
        lines, start = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        return "", 1
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith(("def ", "async def ")):
            return textwrap.dedent("".join(lines[i:])), start + i
    return textwrap.dedent("".join(lines)), start


class CodeFunction:
    """`op` describes the original function; `current()` gives the description and callable
    for the code in `code` (a parameter node, or None when the code is not trainable).

    Code that differs from the original runs inside the isolation boundary (sandbox="bwrap",
    the default), in a separate process without namespaces (sandbox="process", chosen
    explicitly), or in this process (sandbox="inline"), limited to timeout_s and memory_mb;
    a SandboxConfig sets every limit. Arguments, the return value and, for a method, the
    attributes of `self` cross the boundary as JSON (docs/sandbox.md)."""

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str,
        doc: str,
        code: Node | None = None,
        sandbox: Sandbox = None,
        timeout_s: float = 10.0,
        memory_mb: int = 1024,
    ) -> None:
        self.fn = fn
        self.name = name
        self.is_async = inspect.iscoroutinefunction(fn)
        source, first_line = function_source(fn)
        code_object = getattr(fn, "__code__", None)
        self.source = source
        self.op = OpInfo(
            name=name,
            doc=doc,
            source=source,
            filename=code_object.co_filename if code_object else None,
            first_line=first_line,
        )
        self.code = code
        self.sandbox: Sandbox = sandbox
        self.sandbox_config = sandbox_config(sandbox, name, timeout_s, memory_mb)
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        try:
            first = next(iter(inspect.signature(fn).parameters), None)
        except (TypeError, ValueError):
            first = None
        self.is_method = first == "self"
        self._compiled: dict[str, tuple[OpInfo, Callable[..., Any]]] = {}

    def current(self) -> tuple[OpInfo, Callable[..., Any]]:
        if self.code is None or self.code._data == self.source:
            return self.op, self.fn
        code = self.code._data
        mode = ready_mode(self.sandbox_config)  # refuses here, before any call is recorded
        cached = self._compiled.get(f"{mode}:{code}")
        if cached is not None:
            return cached
        filename = f"<optograph-code {self.name}>"
        op = OpInfo(name=self.name, doc=self.op.doc, source=code, filename=filename, first_line=1)
        globals_ = getattr(self.fn, "__globals__", {})
        function_name = self.fn.__name__
        fn: Callable[..., Any]
        if mode == "inline":
            fn = compile_function(code, function_name, globals_, filename)
        else:
            fn = self._boundary_runner(code, function_name, globals_, mode)
        self._compiled = {f"{mode}:{code}": (op, fn)}  # only the latest code is kept
        return op, fn

    def _boundary_runner(
        self, code: str, function_name: str, globals_: dict[str, Any], mode: str
    ) -> Callable[..., Any]:
        run = process_runner(
            code, function_name, globals_, self.sandbox_config, mode, self.is_method
        )
        if self.is_async:
            async def arun(*args: Any, **kwargs: Any) -> Any:
                return await asyncio.to_thread(run, *args, **kwargs)

            return arun
        return run
