"""Running code that an optimizer wrote inside an isolation boundary (docs/sandbox.md)."""

from .boundary import SCRATCH
from .call import compile_function, process_runner, run_function, run_module
from .config import (
    Mode,
    SandboxConfig,
    SandboxError,
    SandboxUnavailable,
    WeakSandboxWarning,
    bwrap_problem,
    ready_mode,
    sandbox_config,
)
from .secrets import scrub, scrub_value

__all__ = [
    "SCRATCH", "Mode", "SandboxConfig", "SandboxError", "SandboxUnavailable", "WeakSandboxWarning",
    "bwrap_problem", "compile_function", "process_runner", "ready_mode", "run_function", "run_module",
    "sandbox_config", "scrub", "scrub_value",
]
