"""Starting the runner inside the isolation boundary and reading its reply with a deadline.

bwrap mode: bubblewrap gives the runner its own user, pid, network, ipc and uts namespaces, a
read-only view of the Python installation and of the folders on sys.path only, one size-limited
scratch folder (/tmp, also its home and working folder), a size-limited /dev/shm, and only the
allow-listed environment (bubblewrap itself is started with that environment, so no process in
the namespace holds the parent's). Killing bubblewrap ends the pid namespace and with it every
process the code started. process mode: the same runner, limits and JSON boundary in a new
session of this machine (see docs/sandbox.md for what that does not contain)."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import SandboxConfig, SandboxError, bwrap_path, refusal

RUNNER = Path(__file__).with_name("runner.py")
INSIDE_RUNNER = "/run/optograph/runner.py"
SCRATCH = "/tmp"
STARTUP_GRACE_S = 2.0  # interpreter start-up and teardown, on top of the code's time limit


@dataclass(frozen=True)
class Outcome:
    """What came back: the decoded reply (None when there was none) and the captured output."""

    reply: dict[str, Any] | None
    output: str
    exit_code: int | None


def _visible_paths() -> list[str]:
    """The folders the runner can read: the Python installation and sys.path (never /, the
    home folder or a folder above it)."""
    home = os.path.realpath(os.path.expanduser("~"))
    candidates = [sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))]
    candidates += [p for p in sys.path if p]
    chosen: list[str] = []
    for path in candidates:
        real = os.path.realpath(path)
        if not os.path.isdir(real) or real == "/" or home == real or home.startswith(real + "/"):
            continue
        if real == SCRATCH or SCRATCH.startswith(real + "/"):
            continue  # the scratch folder stays writable (a run from /tmp puts it on sys.path)
        if real.startswith(("/usr/", "/proc/", "/dev/", "/sys/")) or real in chosen:
            continue
        chosen.append(real)
    return chosen


def bwrap_command(bwrap: str, config: SandboxConfig) -> list[str]:
    mb = 1024 * 1024
    command = [
        bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
        "--ro-bind", "/usr", "/usr",
    ]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            command += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            command += ["--ro-bind", top, top]
    for name in ("ld.so.cache", "localtime", "alternatives"):
        command += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    # the scratch tmpfs first: a visible folder under it (a checkout or venv in /tmp) is then
    # bound read-only on top instead of being hidden by it
    command += ["--size", str(config.scratch_mb * mb), "--tmpfs", SCRATCH]
    for path in _visible_paths():
        command += ["--ro-bind", path, path]
    command += [
        "--ro-bind", str(RUNNER), INSIDE_RUNNER,
        "--proc", "/proc", "--dev", "/dev",
        "--size", str(config.shm_mb * mb), "--tmpfs", "/dev/shm",
        "--remount-ro", "/dev", "--remount-ro", "/",
        "--chdir", SCRATCH, "--clearenv",
    ]
    for name, value in _environment(config, SCRATCH).items():
        command += ["--setenv", name, value]
    return [*command, "--", sys.executable, "-I", "-B", INSIDE_RUNNER]


def _environment(config: SandboxConfig, scratch: str) -> dict[str, str]:
    env = config.environment()
    env.update(HOME=scratch, TMPDIR=scratch, PATH="/usr/local/bin:/usr/bin:/bin")
    return env


def _process_limit(config: SandboxConfig) -> int:
    """RLIMIT_NPROC counts every process of the user, so the limit is what the user runs now
    plus the allowance (root is exempt from it: docs/sandbox.md)."""
    uid = os.getuid()
    if uid == 0:
        return 0
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry.name}/task"))
            except OSError:
                continue
    return count + config.max_processes


def run_boundary(request: dict[str, Any], config: SandboxConfig, mode: str) -> Outcome:
    """Run `request` in the runner under `config`; SandboxError when no reply came in time."""
    request = {**request, "sys_path": _visible_paths(), "limits": {
        "memory_mb": config.memory_mb, "cpu_s": int(config.timeout_s) + 2,
        "file_mb": config.scratch_mb, "processes": _process_limit(config),
    }}
    payload = json.dumps(request).encode()
    with tempfile.TemporaryDirectory(prefix="optograph-sandbox-") as scratch:
        if mode == "bwrap":
            bwrap = bwrap_path()
            if bwrap is None:
                raise refusal("is not available here")
            command, env, cwd = bwrap_command(bwrap, config), _environment(config, SCRATCH), None
        else:
            command = [sys.executable, "-I", "-B", str(RUNNER)]
            env, cwd = _environment(config, scratch), scratch
        started = time.monotonic()
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env, cwd=cwd, start_new_session=True, close_fds=True,
        )
        try:
            outcome = _exchange(process, payload, config, started)
        finally:
            _end(process)
    # both modes report the scratch folder as SCRATCH, so output does not depend on the mode
    return Outcome(outcome.reply, outcome.output.replace(scratch, SCRATCH), outcome.exit_code)


def _exchange(
    process: subprocess.Popen[bytes], payload: bytes, config: SandboxConfig, started: float
) -> Outcome:
    assert process.stdin and process.stdout and process.stderr
    deadline = started + config.timeout_s + STARTUP_GRACE_S
    reply_limit, output_limit = config.reply_mb * 1024 * 1024, config.output_kb * 1024
    reply, output = bytearray(), bytearray()
    with selectors.DefaultSelector() as selector:
        os.set_blocking(process.stdin.fileno(), False)
        selector.register(process.stdin, selectors.EVENT_WRITE)
        selector.register(process.stdout, selectors.EVENT_READ, reply)
        selector.register(process.stderr, selectors.EVENT_READ, output)
        pending = memoryview(payload)
        while selector.get_map():
            complete = b"\n" in reply
            if complete and process.poll() is not None:
                break  # a process the code left behind may still hold the pipes open
            left = deadline - time.monotonic()
            if left <= 0:
                raise SandboxError(
                    f"did not finish within {config.timeout_s:g} s (killed)", kind="timeout"
                )
            for key, _ in selector.select(min(left, 0.02 if complete else 0.5)):
                if key.fileobj is process.stdin:
                    try:
                        pending = pending[os.write(process.stdin.fileno(), pending):]
                    except OSError:
                        pending = memoryview(b"")
                    if not pending:
                        selector.unregister(process.stdin)
                        process.stdin.close()
                    continue
                chunk = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                key.data.extend(chunk)
                if key.data is output and len(output) > 2 * output_limit:
                    del output[: len(output) - output_limit]
                if len(reply) > reply_limit:
                    raise SandboxError(
                        f"sent back more than {config.reply_mb} MB (killed)", kind="crash"
                    )
    try:
        exit_code: int | None = process.wait(max(0.05, min(1.0, deadline - time.monotonic())))
    except subprocess.TimeoutExpired:
        exit_code = None
    text = output[-output_limit:].decode("utf-8", "replace")
    if not reply:
        return Outcome(None, text, exit_code)
    try:
        decoded = json.loads(reply.split(b"\n", 1)[0])
    except (ValueError, RecursionError):
        decoded = {"malformed": True}
    return Outcome(decoded if isinstance(decoded, dict) else {"malformed": True}, text, exit_code)


def _end(process: subprocess.Popen[bytes]) -> None:
    """Kill the runner's whole session (and, for bwrap, with it its pid namespace)."""
    try:
        os.killpg(process.pid, 9)
    except (ProcessLookupError, PermissionError):
        pass
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None and not stream.closed:
            stream.close()
    process.wait()
