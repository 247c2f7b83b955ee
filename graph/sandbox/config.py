"""How optimizer-written code is isolated: the mode, its limits, the environment allow-list,
and the one place that decides whether the chosen mode can run here."""

from __future__ import annotations

import dataclasses
import os
import shutil
import warnings
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import GraphError, OptographError

Mode = Literal["bwrap", "process", "inline"]
MODES: tuple[str, ...] = ("bwrap", "process", "inline")
MODE_ENV = "OPTOGRAPH_SANDBOX"  # bwrap | process: the mode when the code does not choose one
ENV_ALLOW_ENV = "OPTOGRAPH_SANDBOX_ENV"  # comma-separated names passed into the boundary
BWRAP_ENV = "OPTOGRAPH_BWRAP"  # the bubblewrap executable (default: `bwrap` on PATH)
DEFAULT_ENV_ALLOW = ("LANG", "LC_ALL", "LC_CTYPE", "TZ")


class SandboxError(OptographError):
    """Code run in the sandbox failed; `error_line` is its line (1-based) within the code."""

    def __init__(self, message: str, error_line: int | None = None, kind: str = "error") -> None:
        super().__init__(message)
        self.error_line = error_line
        self.kind = kind


class SandboxUnavailable(OptographError):
    """The isolation boundary cannot run here and the weaker mode was not chosen."""


class WeakSandboxWarning(UserWarning):
    """Optimizer-written code runs without the isolation boundary (the user chose so)."""


@dataclass(frozen=True)
class SandboxConfig:
    """Where and under which limits optimizer-written code runs.

    mode: "bwrap" (the default: Linux namespaces through bubblewrap), "process" (a separate
      process with the same limits and the JSON boundary, but the host's file system, network
      and process table: chosen explicitly only), "inline" (this process: trusted code only).
      None reads $OPTOGRAPH_SANDBOX, else "bwrap".
    env: names of environment variables passed in besides DEFAULT_ENV_ALLOW and
      $OPTOGRAPH_SANDBOX_ENV; every other variable is cleared."""

    mode: Mode | None = None
    timeout_s: float = 10.0
    memory_mb: int = 1024
    max_processes: int = 64
    scratch_mb: int = 64
    shm_mb: int = 16
    reply_mb: int = 16
    output_kb: int = 64
    env: tuple[str, ...] = ()

    def resolved_mode(self) -> Mode:
        if self.mode is not None:
            return self.mode
        chosen = os.environ.get(MODE_ENV, "").strip() or "bwrap"
        if chosen not in ("bwrap", "process"):
            raise GraphError(f"${MODE_ENV}={chosen!r}: expected 'bwrap' or 'process'")
        return chosen  # type: ignore[return-value]

    def environment(self) -> dict[str, str]:
        extra = [n.strip() for n in os.environ.get(ENV_ALLOW_ENV, "").split(",") if n.strip()]
        names = {*DEFAULT_ENV_ALLOW, *self.env, *extra}
        return {n: os.environ[n] for n in sorted(names) if n in os.environ}

    def replace(self, **changes: Any) -> SandboxConfig:
        return dataclasses.replace(self, **changes)


def sandbox_config(
    sandbox: Mode | SandboxConfig | None, where: str, timeout_s: float = 10.0,
    memory_mb: int = 1024,
) -> SandboxConfig:
    """The config for `sandbox=` (a mode, a SandboxConfig or None); GraphError naming `where`."""
    if isinstance(sandbox, SandboxConfig):
        config = sandbox
    elif sandbox is None or sandbox in MODES:
        config = SandboxConfig(mode=sandbox, timeout_s=timeout_s, memory_mb=memory_mb)
    else:
        raise GraphError(
            f"{where}(sandbox={sandbox!r}): expected 'bwrap', 'process', 'inline' or a SandboxConfig"
        )
    if config.mode is not None and config.mode not in MODES:
        raise GraphError(f"{where}: SandboxConfig(mode={config.mode!r}) is not one of {MODES}")
    if not (config.timeout_s > 0 and config.memory_mb > 0 and config.max_processes > 0):
        raise GraphError(f"{where}: timeout_s, memory_mb and max_processes must be positive")
    return config


def bwrap_path() -> str | None:
    """The bubblewrap executable, or None when there is none."""
    chosen = os.environ.get(BWRAP_ENV)
    if chosen:
        return chosen if os.path.isfile(chosen) and os.access(chosen, os.X_OK) else None
    return shutil.which("bwrap")


def bwrap_problem() -> str | None:
    """Why the bubblewrap boundary cannot run here (None when it can): a trial run."""
    path = bwrap_path()
    if path is None:
        return "bubblewrap (bwrap) is not installed"
    import subprocess  # only for this check

    done = subprocess.run([path, "--ro-bind", "/", "/", "--unshare-all", "true"],
                          capture_output=True, text=True, env={})
    if done.returncode != 0:
        return f"bubblewrap does not work here: {done.stderr.strip()[:200]}"
    return None


def refusal(reason: str) -> SandboxUnavailable:
    return SandboxUnavailable(
        f"optimizer-written code needs the bubblewrap sandbox, which {reason}: install it "
        f"(apt-get install bubblewrap), or opt in to the weaker process mode with "
        f"sandbox='process' or {MODE_ENV}=process (see docs/sandbox.md)"
    )


def ready_mode(config: SandboxConfig) -> Mode:
    """The mode code runs in now; refuses bwrap where it is missing, warns on process."""
    mode = config.resolved_mode()
    if mode == "bwrap" and bwrap_path() is None:
        where = os.environ.get(BWRAP_ENV) or "bwrap on PATH"
        raise refusal(f"is not available here ({where} not found)")
    if mode == "process":
        warnings.warn(
            "optograph: optimizer-written code runs in the weaker 'process' sandbox (no "
            "namespaces: it can read your files and use the network); see docs/sandbox.md",
            WeakSandboxWarning, stacklevel=3,
        )
    return mode
