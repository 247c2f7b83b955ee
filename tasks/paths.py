"""The one home of the path rules of the entry points: reading an input file (a regular file,
size-capped before reading, UTF-8), checking an output file or folder before any work is
done, and confining a path to a root folder (the MCP server's). Every failure is one line
that names the path and what is wrong with it; `field` names what gave the path (the CLI
passes its flag)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import TaskError

MAX_INPUT_BYTES = 16 * 1024 * 1024  # task files, data files: far above any real one


def _prefix(field: str | None, path: Path | str) -> str:
    return f"{field} {path}" if field else str(path)


def read_text_file(path: Path, field: str | None = None, limit: int = MAX_INPUT_BYTES,
                   what: str = "file") -> str:
    """The text of a regular file of at most `limit` bytes, decoded as UTF-8. A folder, a
    named pipe, a device (a symlink to /dev/zero), a file too large or not UTF-8 is a
    TaskError; nothing is read from anything but a regular file."""
    where = _prefix(field, path)
    try:
        info = os.stat(path)  # follows symlinks: what would be read
    except FileNotFoundError:
        raise TaskError(f"{where}: no such {what}") from None
    except OSError as exc:
        raise TaskError(f"{where}: cannot read ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise TaskError(f"{where}: is a folder, not a {what}")
    if not stat.S_ISREG(info.st_mode):
        raise TaskError(f"{where}: not a regular file (a pipe, socket or device); expected a {what}")
    if info.st_size > limit:
        raise TaskError(f"{where}: {info.st_size} bytes is too large for a {what} "
                        f"(at most {limit})")
    try:
        # O_NONBLOCK: should the file be swapped for a pipe after the check, open does not hang
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise TaskError(f"{where}: not a regular file; expected a {what}")
            data = handle.read(limit + 1)
    except OSError as exc:
        raise TaskError(f"{where}: cannot read ({exc.strerror})") from None
    if len(data) > limit:
        raise TaskError(f"{where}: too large for a {what} (at most {limit} bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TaskError(f"{where}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None


def _existing_ancestor(path: Path) -> Path:
    current = path
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def check_output_folder(path: Path, field: str | None = None) -> Path:
    """`path` is (or can become) a writable folder: not a file, not under a file. Makes it."""
    where = _prefix(field, path)
    if path.exists() and not path.is_dir():
        raise TaskError(f"{where}: is a file, not a folder")
    ancestor = _existing_ancestor(path)
    if not ancestor.is_dir():
        raise TaskError(f"{where}: cannot be made: {ancestor} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TaskError(f"{where}: cannot make the folder ({exc.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise TaskError(f"{where}: the folder is not writable")
    return path


def check_output_file(path: Path, field: str | None = None) -> Path:
    """`path` can be written as a file: not a folder, not under a file, its folder writable
    (made when missing). Nothing is written to the file itself."""
    where = _prefix(field, path)
    if path.is_dir():
        raise TaskError(f"{where}: is a folder; expected a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise TaskError(f"{where}: the file is not writable")
    check_output_folder(path.parent, f"{field} folder" if field else None)
    return path


def confine(value: str | Path, root: Path, field: str) -> Path:
    """`value` (relative to `root`) as an absolute path inside `root`, symlinks resolved;
    a TaskError when it leads outside. The path itself is not echoed beyond what was given."""
    base = root.resolve()
    candidate = Path(value).expanduser()
    resolved = (candidate if candidate.is_absolute() else base / candidate).resolve()
    if resolved != base and base not in resolved.parents:
        raise TaskError(f"{field} {str(value)!r}: outside the served folder {base}")
    return resolved
