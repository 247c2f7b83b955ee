"""A one-line live progress bar on stderr: step, current score, best score, tokens. On a
terminal it redraws in place; otherwise (a log file, a pipe) it prints one line per step.

Between steps it shows what is going on (`activity`): each model call as it starts and ends
(`llm_call`, the LLM layer's on_call hook) and each example of a batch (`example`). On a
terminal that is the end of the live line; elsewhere a line, at most one every `every_s`
seconds, so a log shows the run is alive without a line per call."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


class ProgressBar:
    EVERY_S = 5.0  # off a terminal: at most one activity line this often

    def __init__(self, label: str, total: int | None, stream: TextIO | None = None,
                 unit: str = "step", every_s: float | None = None) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self.every_s = self.EVERY_S if every_s is None else every_s
        self._width = 0
        self._line = ""
        self._written = self.started  # when the last line was written
        self._calls = 0
        self._lock = threading.Lock()

    def update(self, done: int, score: float | None, best: float | None, tokens: int,
               cost: float = 0.0) -> None:
        elapsed = time.monotonic() - self.started
        if self.total:
            filled = int(20 * min(done, self.total) / self.total)
            bar = f"[{'#' * filled}{'.' * (20 - filled)}] {done}/{self.total}"
        else:
            bar = f"{self.unit} {done}"
        money = f" ${cost:.4f}" if cost else ""
        line = (f"{self.label} {bar} score {_score(score)} best {_score(best)} "
                f"tokens {tokens}{money} {elapsed:.0f}s")
        with self._lock:
            self._line = line
            self._show(line, force=True)

    def _show(self, line: str, force: bool) -> None:
        if self.live:
            pad = max(0, self._width - len(line))
            self.stream.write("\r" + line + " " * pad)
            self._width = len(line)
        elif force or time.monotonic() - self._written >= self.every_s:
            self.stream.write(line + "\n")
        else:
            return
        self._written = time.monotonic()
        self.stream.flush()

    def activity(self, text: str) -> None:
        """What the run is doing now (a model call, an example of the batch)."""
        elapsed = time.monotonic() - self.started
        with self._lock:
            head = self._line if self.live and self._line else f"{self.label}"
            self._show(f"{head} | {text} {elapsed:.0f}s", force=False)

    def llm_call(self, event: str, record: Any) -> None:
        """The LLM layer's on_call hook: ("start" | "end", CallRecord)."""
        role = getattr(record, "role", "model")
        if event == "start":
            with self._lock:
                self._calls += 1
            self.activity(f"{role} call {self._calls} ({getattr(record, 'model', '')}) ...")
        else:
            source = getattr(record, "source", None) or "failed"
            self.activity(f"{role} call {self._calls} done in "
                          f"{getattr(record, 'duration_s', 0.0):.1f}s ({source})")

    def example(self, done: int, total: int) -> None:
        """One more example of the step's batch evaluated."""
        self.activity(f"example {done}/{total}")

    def message(self, text: str) -> None:
        with self._lock:
            if self.live and self._width:
                self.stream.write("\n")
                self._width = 0
            self.stream.write(text + "\n")
            self._written = time.monotonic()
            self.stream.flush()

    def close(self) -> None:
        if self.live and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0
