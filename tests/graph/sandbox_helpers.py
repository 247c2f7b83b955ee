"""Shared by the sandbox tests: whether bubblewrap works here, and running a piece of code
as the new code of a trainable bundle."""

from __future__ import annotations

from typing import Any

import pytest

import optograph as og
from optograph.graph.sandbox import SandboxConfig, SandboxError, bwrap_problem

BWRAP_MISSING = bwrap_problem()
requires_bwrap = pytest.mark.skipif(BWRAP_MISSING is not None, reason=BWRAP_MISSING or "")
MODES = [pytest.param("bwrap", marks=requires_bwrap), "process"]


def attack(*args: Any) -> Any:
    """The original code; tests replace it."""
    return None


def run_code(code: str, *args: Any, sandbox: Any = "bwrap", timeout_s: float = 3.0,
             memory_mb: int = 512) -> Any:
    """The value the code returned, or "ERROR: <message>" when it failed."""
    if isinstance(sandbox, str):
        sandbox = SandboxConfig(mode=sandbox, timeout_s=timeout_s, memory_mb=memory_mb)
    fn = og.bundle(trainable=True, sandbox=sandbox)(attack)
    fn.code.set(code)
    try:
        with og.no_trace():
            return fn(*args)
    except SandboxError as exc:
        return f"ERROR: {exc}"
