"""Running code that an optimizer wrote, in a separate process with a time and memory limit,
so that a hang or a crash becomes an exception node instead of a hung or crashed optimizer."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import resource
import traceback
from multiprocessing.connection import Connection
from typing import Any

from .errors import OptographError


class SandboxError(OptographError):
    """Code run in the sandbox failed; `error_line` is its line (1-based) within the code."""

    def __init__(self, message: str, error_line: int | None = None, kind: str = "error") -> None:
        super().__init__(message)
        self.error_line = error_line
        self.kind = kind


def compile_function(code: str, function_name: str, globals_: dict[str, Any], filename: str) -> Any:
    """Execute `code` in a copy of `globals_` and return the function it defines."""
    namespace = dict(globals_)
    exec(compile(code, filename, "exec"), namespace)
    fn = namespace.get(function_name)
    if not callable(fn):
        raise SandboxError(f"the code does not define a function named {function_name!r}")
    return fn


def run_in_process(
    code: str,
    function_name: str,
    globals_: dict[str, Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    timeout_s: float = 10.0,
    memory_mb: int = 1024,
) -> Any:
    """Run `function_name` from `code` in a forked child. The child inherits the defining
    module's globals, so code can use the same imports as the original function."""
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(
        target=_child,
        args=(sender, code, function_name, globals_, args, kwargs, memory_mb),
        daemon=True,
    )
    process.start()
    sender.close()
    try:
        if not receiver.poll(timeout_s):
            raise SandboxError(
                f"{function_name} did not finish within {timeout_s:g} s (killed)", kind="timeout"
            )
        try:
            status, payload = receiver.recv()
        except EOFError:
            process.join(1.0)
            raise SandboxError(
                f"{function_name} crashed the process running it (exit code {process.exitcode})",
                kind="crash",
            ) from None
    finally:
        if process.is_alive():
            process.kill()
        process.join(1.0)
        receiver.close()
    if status == "ok":
        return payload
    type_name, message, error_line, _trace = payload
    raise SandboxError(f"{type_name}: {message}", error_line=error_line)


def _child(
    sender: Connection,
    code: str,
    function_name: str,
    globals_: dict[str, Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    memory_mb: int,
) -> None:
    filename = f"<optograph-code {function_name}>"
    try:
        _limit_memory(memory_mb)
        fn = compile_function(code, function_name, globals_, filename)
        result = fn(*args, **kwargs)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        sender.send(("ok", result))
    except BaseException as exc:  # everything, MemoryError included, goes back as data
        line = None
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == filename:
                line = tb.tb_lineno
            tb = tb.tb_next
        if isinstance(exc, SandboxError) and exc.error_line is not None:
            line = exc.error_line
        try:
            sender.send(("error", (type(exc).__name__, str(exc), line, traceback.format_exc())))
        except Exception:
            os._exit(3)
    finally:
        sender.close()


def _limit_memory(memory_mb: int) -> None:
    # The address-space limit counts what the parent had mapped already (torch maps a lot),
    # so the child's allowance is added on top of its current size.
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[0])
        current = pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return
    limit = current + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
