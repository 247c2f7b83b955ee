"""Record/replay cassettes: every call of a run and its reply, in a JSON Lines file.

"record" sends every call to the model and appends it; "replay" serves calls from the file
only and fails on any call it does not hold; "auto" replays what it holds and records the
rest. A later line for the same (key, occurrence) supersedes an earlier one. Lines are
appended and flushed one by one, so a run killed mid-way keeps everything recorded so far
(a half-written last line is dropped on the next load)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, message_to_dict

from .errors import LLMConfigError
from .messages import message_fingerprint, reply_from_json

CassetteMode = Literal["record", "replay", "auto"]
_MODES = ("record", "replay", "auto")


class Cassette:
    def __init__(self, path: str | Path, mode: CassetteMode = "auto") -> None:
        if mode not in _MODES:
            raise LLMConfigError(
                f"cassette {path}: unknown mode {mode!r}; expected one of {_MODES}"
            )
        self.path = Path(path).expanduser()
        self.mode: CassetteMode = mode
        self._entries: dict[tuple[str, int], dict[str, Any]] = {}
        self._complete_bytes = 0  # length of the file up to its last complete line
        self._lock = threading.Lock()
        if self.path.is_dir():
            raise LLMConfigError(f"cassette {self.path}: is a folder, not a cassette file")
        if self.path.exists():
            self._load()
        elif mode == "replay":
            raise LLMConfigError(
                f"cassette {self.path} does not exist; record it first (mode 'record')"
            )
        if self.records:
            self._check_writable()

    def _check_writable(self) -> None:
        """Fail now, not after the first paid call, when new calls could not be appended."""
        if self.path.exists():
            if not os.access(self.path, os.W_OK):
                raise LLMConfigError(f"cassette {self.path}: not writable")
            return
        folder = self.path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise LLMConfigError(f"cassette {self.path}: cannot be created under {folder}")

    # copy and pickle: the entries and the file position travel, the lock is made anew
    def __getstate__(self) -> dict[str, Any]:
        with self._lock:
            state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _load(self) -> None:
        try:
            data = self.path.read_bytes()
        except OSError as error:
            raise LLMConfigError(f"cassette {self.path}: cannot read: {error.strerror}") from None
        lines = data.split(b"\n")
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw)
                key = (str(entry["key"]), int(entry["occurrence"]))
                entry["reply"]  # noqa: B018 - required field
            except (ValueError, KeyError, TypeError) as error:
                if number == len(lines) and raw.startswith(b'{"key"'):
                    break  # an entry cut off while being written: dropped (and overwritten)
                raise LLMConfigError(
                    f"cassette {self.path}:{number}: malformed entry: {error}"
                ) from error
            self._entries[key] = entry
        self._complete_bytes = data.rfind(b"\n") + 1

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def replays(self) -> bool:
        return self.mode in ("replay", "auto")

    @property
    def records(self) -> bool:
        return self.mode in ("record", "auto")

    def lookup(self, key: str, occurrence: int) -> AIMessage | None:
        """The recorded reply of a call, or None (always None in "record" mode)."""
        if not self.replays:
            return None
        entry = self._entries.get((key, occurrence))
        if entry is None:
            return None
        try:
            return reply_from_json(json.dumps(entry["reply"]))
        except (ValueError, KeyError, TypeError) as error:
            raise LLMConfigError(
                f"cassette {self.path}: unreadable reply for {key[:12]}: {error}"
            ) from error

    def record(
        self,
        key: str,
        occurrence: int,
        model: str,
        messages: Sequence[BaseMessage],
        params: Mapping[str, Any],
        reply: AIMessage,
    ) -> None:
        """Append one call (no-op in "replay" mode). The request is kept for people to read."""
        if not self.records:
            return
        entry = {
            "key": key,
            "occurrence": occurrence,
            "model": model,
            "params": json.loads(json.dumps(dict(params), default=repr)),
            "messages": [message_fingerprint(message) for message in messages],
            "reply": json.loads(json.dumps(message_to_dict(reply), default=repr)),
        }
        line = (json.dumps(entry, ensure_ascii=False, default=repr) + "\n").encode("utf-8")
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.path, "ab") as handle:
                    if handle.tell() > self._complete_bytes:  # a half-written line from a crash
                        handle.truncate(self._complete_bytes)
                        handle.seek(self._complete_bytes)
                    handle.write(line)
                    handle.flush()
                    self._complete_bytes = handle.tell()
            except OSError as error:
                raise LLMConfigError(f"cassette {self.path}: cannot write: {error}") from error
            self._entries[(key, occurrence)] = entry

    def __repr__(self) -> str:
        return f"Cassette({str(self.path)!r}, mode={self.mode!r}, calls={len(self)})"
