"""The run folder: `run.sqlite` holds the task, every completed step (values, score,
feedback, graph, optimizer state), every evaluation of a search, and the LLM's prompts and
replies. Each step is written in one transaction, so a run killed at any moment keeps every
step it completed and resumes after the last one."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .errors import RunStoreError
from .paths import check_output_folder
from .run_lock import RunLock

DATABASE = "run.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS steps (
    step INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    values_json TEXT NOT NULL,
    score REAL,
    best_score REAL,
    feedback TEXT NOT NULL,
    updates_json TEXT NOT NULL,
    next_values_json TEXT NOT NULL,
    optimizer_state TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    cost REAL NOT NULL,
    graph_dot TEXT,
    note TEXT
);
CREATE TABLE IF NOT EXISTS evaluations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    candidate_json TEXT NOT NULL,
    score REAL NOT NULL,
    feedback TEXT NOT NULL,
    time REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS train_scores (step INTEGER PRIMARY KEY, score REAL);
CREATE TABLE IF NOT EXISTS llm_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    step INTEGER NOT NULL,
    role TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt TEXT NOT NULL,
    reply TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class StepRecord:
    step: int
    time: float
    values: dict[str, Any]
    score: float | None
    best_score: float | None
    feedback: str
    updates: dict[str, Any]
    next_values: dict[str, Any]
    optimizer_state: dict[str, Any]
    tokens: int
    cost: float
    graph_dot: str | None
    note: str | None


@dataclass(frozen=True)
class LLMCallRecord:
    step: int
    role: str
    model: str
    prompt: str
    reply: str
    input_tokens: int
    output_tokens: int


def _plain(value: Any) -> Any:
    """JSON form of a value JSON does not know: its to_dict() (search-space values such as
    diffusion schedules), else its repr."""
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else repr(value)


def _json(value: Any) -> str:
    return json.dumps(value, default=_plain)


_NUMBER = (int, float)


def _field(path: Path, step: Any, name: str, value: Any, kinds: tuple[type, ...],
           optional: bool = False, parse: bool = False) -> Any:
    """One stored value, checked: JSON text parsed when `parse`; the wrong kind is a
    RunStoreError naming the file, the step and the column."""
    where = f"{path}: step {step}: {name}"
    if parse:
        if not isinstance(value, str):
            raise RunStoreError(f"{where} is {type(value).__name__}, not JSON text")
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise RunStoreError(f"{where} is not valid JSON: {value[:40]!r}") from None
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, kinds):
        expected = {dict: "an object", str: "text", int: "an integer"}.get(kinds[0], "a number")
        raise RunStoreError(f"{where} is {type(value).__name__} {repr(value)[:40]}, not {expected}")
    return value


def _step_record(path: Path, row: tuple[Any, ...]) -> StepRecord:
    if len(row) < 13:
        raise RunStoreError(f"{path}: the steps table has {len(row)} columns, not 13")
    step = row[0]
    return StepRecord(
        step=_field(path, step, "step", step, (int,)),
        time=_field(path, step, "time", row[1], _NUMBER),
        values=_field(path, step, "values_json", row[2], (dict,), parse=True),
        score=_field(path, step, "score", row[3], _NUMBER, optional=True),
        best_score=_field(path, step, "best_score", row[4], _NUMBER, optional=True),
        feedback=_field(path, step, "feedback", row[5], (str,)),
        updates=_field(path, step, "updates_json", row[6], (dict,), parse=True),
        next_values=_field(path, step, "next_values_json", row[7], (dict,), parse=True),
        optimizer_state=_field(path, step, "optimizer_state", row[8], (dict,), parse=True),
        tokens=_field(path, step, "tokens", row[9], (int,)),
        cost=_field(path, step, "cost", row[10], _NUMBER),
        graph_dot=_field(path, step, "graph_dot", row[11], (str,), optional=True),
        note=_field(path, step, "note", row[12], (str,), optional=True),
    )


class RunStore:
    """One run folder. Open an existing one with `RunStore.open`, start one with `create`.

    A writer holds the run's lock (run_lock.py) from opening to `close`; `readonly=True`
    opens the database read-only (an SQLite `mode=ro` URI: nothing in the file changes) and
    takes no lock. Every damage found while reading (not a database, a missing table, a
    value that is not what its column holds) is a one-line RunStoreError naming the file."""

    def __init__(self, folder: Path, readonly: bool = False) -> None:
        self.folder = folder
        self.path = folder / DATABASE
        self.readonly = readonly
        self._lock: RunLock | None = None
        if not readonly:
            self._lock = RunLock(folder)
            self._lock.acquire()
        try:
            if readonly:
                uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
                self.db = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)
            else:
                self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as exc:
            self._release()
            raise RunStoreError(f"{self.path}: not a usable run database ({exc})") from None

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _rows(self, sql: str, what: str) -> list[tuple[Any, ...]]:
        try:
            return self.db.execute(sql).fetchall()
        except sqlite3.Error as exc:
            raise RunStoreError(f"{self.path}: {what} ({exc})") from None

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def create(cls, store: Path, task_name: str, task_path: Path, task_text: str) -> RunStore:
        check_output_folder(store, "store")
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        for n in range(1000):
            folder = store / (f"{task_name}-{stamp}" + (f"-{n}" if n else ""))
            try:
                folder.mkdir()
                break
            except FileExistsError:
                continue
            except OSError as exc:
                raise RunStoreError(f"store {store}: cannot make a run folder ({exc.strerror})") from None
        else:  # pragma: no cover - a thousand runs in one second
            raise RunStoreError(f"{store}: cannot make a new run folder")
        run = cls(folder)
        try:
            run.db.executescript(_SCHEMA)  # executescript commits on its own
        except sqlite3.Error as exc:
            run.close()
            raise RunStoreError(f"{run.path}: cannot write ({exc})") from None
        meta = {
            "task_name": task_name, "task_path": str(task_path.resolve()), "task_yaml": task_text,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "status": "running",
        }
        run.set_meta(**meta)
        return run

    @classmethod
    def open(cls, folder: str | Path, readonly: bool = False) -> RunStore:
        """An existing run; RunStoreError when the folder is missing or not a run, or (for
        a writer) when another process holds it."""
        path = Path(folder)
        if not path.exists():
            raise RunStoreError(f"{path}: no such run folder")
        if not path.is_dir():
            raise RunStoreError(f"{path}: not a run folder (it is a file)")
        if not (path / DATABASE).is_file():
            raise RunStoreError(f"{path}: not an optograph run (no {DATABASE} in it)")
        run = cls(path, readonly=readonly)
        try:
            tables = {r[0] for r in run._rows("SELECT name FROM sqlite_master",
                                                  "not a run database")}
        except RunStoreError:
            run.close()
            raise
        missing = sorted({"meta", "steps", "llm_calls"} - tables)
        if missing:
            run.close()
            raise RunStoreError(f"{run.path}: not an optograph run (no {missing[0]} table)")
        return run

    def close(self) -> None:
        self.db.close()
        self._release()

    def transaction(self) -> _Transaction:
        return _Transaction(self.db, self.path)

    # -- meta ----------------------------------------------------------------------------
    def set_meta(self, **values: Any) -> None:
        with self.transaction():
            for key, value in values.items():
                self.db.execute(
                    "INSERT INTO meta(key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, value if isinstance(value, str) else _json(value)),
                )

    def meta(self) -> dict[str, str]:
        rows = self._rows("SELECT key, value FROM meta", "cannot read the meta table")
        return {str(k): v if isinstance(v, str) else str(v) for k, v in rows}

    # -- steps ---------------------------------------------------------------------------
    def add_step(self, record: StepRecord, calls: list[LLMCallRecord]) -> None:
        """Store a completed step and its LLM calls atomically."""
        with self.transaction():
            self.db.execute(
                "INSERT INTO steps VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (record.step, record.time, _json(record.values), record.score,
                 record.best_score, record.feedback, _json(record.updates),
                 _json(record.next_values), _json(record.optimizer_state), record.tokens,
                 record.cost, record.graph_dot, record.note),
            )
            self._add_calls(calls)

    def set_train_score(self, step: int, score: float | None) -> None:
        """The minibatch score of a step whose `score` is its validation score."""
        with self.transaction():
            self.db.execute("CREATE TABLE IF NOT EXISTS train_scores "
                            "(step INTEGER PRIMARY KEY, score REAL)")
            self.db.execute("INSERT OR REPLACE INTO train_scores VALUES (?, ?)", (step, score))

    def train_scores(self) -> dict[int, float | None]:
        """{step: minibatch score} of a run with a validation split ({} otherwise)."""
        try:
            rows = self.db.execute("SELECT step, score FROM train_scores").fetchall()
        except sqlite3.OperationalError:  # a run stored before the table existed
            return {}
        except sqlite3.Error as exc:
            raise RunStoreError(f"{self.path}: cannot read the train scores ({exc})") from None
        return {_field(self.path, step, "step", step, (int,)):
                _field(self.path, step, "train score", score, _NUMBER, optional=True)
                for step, score in rows}

    def has_step(self, step: int) -> bool:
        try:
            row = self.db.execute("SELECT 1 FROM steps WHERE step = ?", (step,)).fetchone()
        except sqlite3.Error as exc:
            raise RunStoreError(f"{self.path}: cannot read the steps ({exc})") from None
        return row is not None

    def complete_step(self, record: StepRecord, calls: list[LLMCallRecord]) -> None:
        """Add the optimizer's part (updates, next values, state, totals, note) to a stored
        step whose evaluation is kept as it was (a finished run resumed with more steps)."""
        with self.transaction():
            self.db.execute(
                "UPDATE steps SET updates_json = ?, next_values_json = ?, optimizer_state = ?, "
                "tokens = ?, cost = ?, note = ? WHERE step = ?",
                (_json(record.updates), _json(record.next_values), _json(record.optimizer_state),
                 record.tokens, record.cost, record.note, record.step),
            )
            self._add_calls(calls)

    def _add_calls(self, calls: list[LLMCallRecord]) -> None:
        self.db.executemany(
            "INSERT INTO llm_calls(step, role, model, prompt, reply, input_tokens, output_tokens)"
            " VALUES (?,?,?,?,?,?,?)",
            [(c.step, c.role, c.model, c.prompt, c.reply, c.input_tokens, c.output_tokens)
             for c in calls],
        )

    def steps(self) -> list[StepRecord]:
        rows = self._rows("SELECT * FROM steps ORDER BY step", "cannot read the steps")
        return [_step_record(self.path, row) for row in rows]

    def last_step(self) -> StepRecord | None:
        steps = self.steps()
        return steps[-1] if steps else None

    def llm_calls(self) -> list[LLMCallRecord]:
        rows = self._rows(
            "SELECT step, role, model, prompt, reply, input_tokens, output_tokens "
            "FROM llm_calls ORDER BY id", "cannot read the LLM calls"
        )
        return [LLMCallRecord(*r) for r in rows]

    # -- evaluations (search optimizers) -------------------------------------------------
    def add_evaluation(self, key: str, candidate: dict[str, Any], score: float, feedback: str,
                       calls: list[LLMCallRecord] | None = None) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT OR IGNORE INTO evaluations(key, candidate_json, score, feedback, time) "
                "VALUES (?,?,?,?,?)",
                (key, _json(candidate), score, feedback, time.time()),
            )
            self._add_calls(calls or [])

    def evaluations(self) -> list[tuple[str, dict[str, Any], float, str]]:
        rows = self._rows(
            "SELECT key, candidate_json, score, feedback FROM evaluations ORDER BY id",
            "cannot read the evaluations",
        )
        return [(k, _field(self.path, k, "candidate_json", c, (dict,), parse=True),
                 _field(self.path, k, "score", s, _NUMBER), f) for k, c, s, f in rows]


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on an exception); a database error inside is a
    RunStoreError naming the file."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self.db = db
        self.path = path

    def __enter__(self) -> sqlite3.Connection:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise RunStoreError(f"{self.path}: cannot write ({exc})") from None
        return self.db

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 *rest: object) -> None:
        try:
            self.db.execute("COMMIT" if kind is None else "ROLLBACK")
        except sqlite3.Error as exc:
            if kind is None:
                raise RunStoreError(f"{self.path}: cannot write ({exc})") from None
        if isinstance(error, sqlite3.Error):
            raise RunStoreError(f"{self.path}: cannot write ({error})") from None


def list_runs(store: Path) -> Iterator[Path]:
    """Run folders under `store`, oldest first."""
    if not store.is_dir():
        return iter(())
    runs = [p for p in store.iterdir() if (p / DATABASE).is_file()]
    return iter(sorted(runs, key=lambda p: (p.stat().st_mtime, p.name)))


def find_run(reference: str, store: Path) -> Path:
    """A run folder given as a path, or as a name under the store."""
    path = Path(reference)
    if path.exists() or path.is_absolute() or len(path.parts) > 1:
        return path
    candidate = store / reference
    return candidate if candidate.exists() else path
