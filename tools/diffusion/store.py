"""SQLite store of a search: every evaluated candidate is written (and committed) the moment
its FID is known, so a search killed at any point resumes without evaluating anything twice.
The store doubles as the evolutionary optimizer's evaluation cache (a MutableMapping keyed by
the candidate's key, at the store's own image count).

Multi-fidelity: every row carries the number of images its FID was computed on, and one
candidate may have a row per image count (fidelity). A store written before fidelities
existed is migrated when opened: its rows get the image count of its configuration
("images"; 0 when it has none)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Hashable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DiffusionInputError
from .search_space import Schedule, coerce_schedule

_EVALUATIONS = """
CREATE TABLE IF NOT EXISTS evaluations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    images INTEGER NOT NULL DEFAULT 0,
    stage TEXT NOT NULL,
    schedule TEXT NOT NULL,
    fid REAL NOT NULL,
    macs REAL NOT NULL,
    seconds REAL NOT NULL,
    created REAL NOT NULL,
    UNIQUE (key, images)
)"""
_SCHEMA = f"CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);{_EVALUATIONS};"
_COLUMNS = "key, stage, schedule, fid, macs, seconds, created"


@dataclass(frozen=True)
class StoredEvaluation:
    stage: str
    schedule: Schedule
    fid: float
    macs: float
    seconds: float
    images: int = 0


def stored_count(path: str | Path) -> int:
    """The number of evaluations in the store at `path` (0 when it holds none yet)."""
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0])
    except sqlite3.DatabaseError:  # not a store (yet): nothing of ours to protect
        return 0
    finally:
        db.close()


def key_text(key: Hashable) -> str:
    return json.dumps(key, separators=(",", ":"))


class SearchStore(MutableMapping[Hashable, float]):
    """One search's evaluations in `path` (SQLite, WAL). `config` describes the search (model,
    reference, steps, solver, budget, images, seed); resuming with another config is refused."""

    def __init__(self, path: str | Path, config: dict[str, Any], resume: bool = False) -> None:
        self.path = Path(path)
        images = config.get("images", 0)
        # the image count of the mapping interface (the optimizer's cache) and of old rows
        self.images = images if isinstance(images, int) and not isinstance(images, bool) else 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit; usable from the threads of a parallel search (its writes are serialized)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._migrate()
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as error:  # the file is left as it is
            self._db.close()
            raise DiffusionInputError("out", f"{self.path} is not a search store ({error})") from None
        stored = self._meta("config")
        wanted = json.dumps(config, sort_keys=True)
        if stored is None or (stored != wanted and not len(self)):
            # a new store, or one whose search failed before its first evaluation (nothing
            # of it to protect): it takes this search's configuration
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('config', ?)", (wanted,))
        elif not resume and len(self):
            self._db.close()
            raise DiffusionInputError(
                "out", f"{self.path} already holds a search with {stored_count(path)} "
                "evaluations; resume it or choose another folder")
        elif stored != wanted:
            self._db.close()
            raise DiffusionInputError(
                "resume", f"{self.path} holds a search with another configuration "
                f"({_diff(json.loads(stored), config)})")

    def _migrate(self) -> None:
        """A store without the images column (one fidelity, key unique): rebuilt in one
        transaction with every row at the configuration's image count; nothing is lost."""
        columns = [row[1] for row in self._db.execute("PRAGMA table_info(evaluations)")]
        if not columns or "images" in columns:
            return
        config = self._db.execute("SELECT value FROM meta WHERE name = 'config'").fetchone()
        stored = json.loads(config[0]).get("images", 0) if config else 0
        images = stored if isinstance(stored, int) and not isinstance(stored, bool) else 0
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute("ALTER TABLE evaluations RENAME TO evaluations_v1")
            self._db.execute(_EVALUATIONS)
            self._db.execute(f"INSERT INTO evaluations (id, images, {_COLUMNS}) SELECT id, ?, "
                             f"{_COLUMNS} FROM evaluations_v1 ORDER BY id", (images,))
            self._db.execute("DROP TABLE evaluations_v1")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _meta(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, name: str, value: Any) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, json.dumps(value)))

    def get_meta(self, name: str) -> Any:
        text = self._meta(name)
        return None if text is None else json.loads(text)

    def record(self, key: Hashable, stage: str, schedule: Schedule, fid: float, macs: float,
               seconds: float, images: int | None = None) -> None:
        """Store one evaluation on `images` images (default: the store's count), committed at
        once; a (key, images) already stored is kept as it is."""
        self._db.execute(
            f"INSERT OR IGNORE INTO evaluations (images, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self.images if images is None else images, key_text(key), stage,
             json.dumps(schedule.to_dict()), fid, macs, seconds, time.time()),
        )

    def lookup(self, key: Hashable, images: int | None = None) -> float | None:
        """The stored FID of `key` on `images` images (default: the store's count), or None."""
        row = self._db.execute("SELECT fid FROM evaluations WHERE key = ? AND images = ?",
                               (key_text(key), self.images if images is None else images)
                               ).fetchone()
        return None if row is None else float(row[0])

    def stored_or_record(self, key: Hashable, stage: str, schedule: Schedule,
                         evaluate: Callable[[], tuple[float, float, float]],
                         images: int | None = None) -> tuple[float, bool]:
        """The stored FID of `key` on `images` images, or `evaluate()` (fid, macs, seconds)
        recorded under it; and whether it was stored. What is stored is never computed again."""
        stored = self.lookup(key, images)
        if stored is not None:
            return stored, True
        fid, macs, seconds = evaluate()
        self.record(key, stage, schedule, fid, macs, seconds, images)
        return fid, False

    def evaluations(self) -> list[StoredEvaluation]:
        """The recorded evaluations, in order. Bare cache rows (a score the optimizer stored
        for a key that was never recorded) carry no schedule and are left out."""
        rows = self._db.execute(
            "SELECT stage, schedule, fid, macs, seconds, images FROM evaluations"
            " WHERE stage != '' ORDER BY id").fetchall()
        return [StoredEvaluation(stage, coerce_schedule(json.loads(schedule)), fid, macs, seconds,
                                 images)
                for stage, schedule, fid, macs, seconds, images in rows]

    def close(self) -> None:
        self._db.close()

    # -- MutableMapping: the optimizer's evaluation cache ------------------------------------
    def __getitem__(self, key: Hashable) -> float:
        fid = self.lookup(key)
        if fid is None:
            raise KeyError(key)
        return fid

    def __setitem__(self, key: Hashable, value: float) -> None:
        # The optimizer writes the score after evaluate() already recorded it with details;
        # a score set without details (a plain cache write) is kept as a bare row.
        if key not in self:
            self._db.execute(
                "INSERT OR IGNORE INTO evaluations (key, images, stage, schedule, fid, macs, "
                "seconds, created) VALUES (?, ?, '', '{}', ?, 0, 0, ?)",
                (key_text(key), self.images, value, time.time()))

    def __delitem__(self, key: Hashable) -> None:
        raise TypeError("stored evaluations are never deleted")

    def __contains__(self, key: object) -> bool:
        return self.lookup(key) is not None  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Hashable]:
        for (text,) in self._db.execute("SELECT key FROM evaluations WHERE images = ? ORDER BY id",
                                        (self.images,)).fetchall():
            yield _tuples(json.loads(text))

    def __len__(self) -> int:
        """Every stored evaluation, at every image count."""
        return int(self._db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0])


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _diff(stored: dict[str, Any], wanted: dict[str, Any]) -> str:
    names = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
    return "; ".join(f"{n}: stored {stored.get(n)!r}, now {wanted.get(n)!r}" for n in names[:3])
