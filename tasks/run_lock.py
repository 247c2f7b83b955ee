"""Who is running a run: a live run holds an exclusive lock (flock) on `run.lock` in its
folder for as long as its process lives. The kernel drops the lock when the process ends,
however it ends (kill -9 included), so "running" means "a live process holds the lock",
and a second writer of the same run is refused instead of colliding in the database."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .errors import RunStoreError

LOCK_FILE = "run.lock"


class RunLock:
    """The exclusive lock of one run folder, taken at once or refused with one line."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._fd: int | None = None

    def acquire(self) -> None:
        path = self.folder / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RunStoreError(f"{path}: cannot open the run's lock file ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_pid(fd)
            os.close(fd)
            raise RunStoreError(
                f"{self.folder}: the run is in use by another process{holder}; wait for it to "
                "end (or stop it) before resuming"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return f" (pid {text})" if text.isdigit() else ""


def is_held(folder: Path) -> bool:
    """Whether a live process holds the run's lock (read-only: nothing is created)."""
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops a shared lock taken just now
    return False
