"""A disk cache of chat-model calls in SQLite, shared safely between threads and processes.

Entries are keyed by (call key, occurrence): the n-th identical call of a run gets the n-th
stored reply, so asking the same question twice for two candidates still gets two answers,
and a rerun reproduces the first run call for call without sending anything."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

from langchain_core.messages import AIMessage

from .errors import LLMConfigError
from .messages import reply_from_json, reply_to_json

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT NOT NULL,
    occurrence INTEGER NOT NULL,
    model TEXT NOT NULL,
    reply TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (key, occurrence)
)
"""


class CallCache:
    """SQLite file of replies. Opening a connection per operation keeps it usable from any
    thread; WAL mode lets readers and a writer work at once."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as connection, connection:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute(_SCHEMA)
        except (sqlite3.Error, OSError) as error:
            raise LLMConfigError(f"LLM cache {self.path}: cannot open: {error}") from error

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30.0)

    def get(self, key: str, occurrence: int = 0) -> AIMessage | None:
        try:
            with closing(self._connect()) as connection:
                row = connection.execute(
                    "SELECT reply FROM calls WHERE key = ? AND occurrence = ?", (key, occurrence)
                ).fetchone()
            return None if row is None else reply_from_json(row[0])
        except (sqlite3.Error, ValueError, KeyError) as error:
            raise LLMConfigError(
                f"LLM cache {self.path}: unreadable entry {key[:12]}: {error}"
            ) from error

    def put(self, key: str, occurrence: int, model: str, reply: AIMessage) -> None:
        try:
            with closing(self._connect()) as connection, connection:
                connection.execute(
                    "INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?)",
                    (key, occurrence, model, reply_to_json(reply), time.time()),
                )
        except sqlite3.Error as error:
            raise LLMConfigError(f"LLM cache {self.path}: cannot write: {error}") from error

    def __len__(self) -> int:
        with closing(self._connect()) as connection:
            (count,) = connection.execute("SELECT COUNT(*) FROM calls").fetchone()
        return int(count)

    def clear(self) -> None:
        with closing(self._connect()) as connection, connection:
            connection.execute("DELETE FROM calls")

    def __repr__(self) -> str:
        return f"CallCache({str(self.path)!r})"
