"""A one-line live progress bar on stderr: step, current score, best score (with its direction
and target), tokens. On a terminal it redraws in place; otherwise (a log file, a pipe) it
prints one line per step.

Between steps it shows what is going on (`activity`): each model call as it starts and ends
(`llm_call`, the LLM layer's on_call hook) and each example of a batch (`example`). On a
terminal that is the end of the live line; elsewhere a line, at most one every `every_s`
seconds, so a log shows the run is alive without a line per call. A passing condition (a rate
limit being waited out) is shown with `notify`."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

from optograph.agent.feedback import describe_score


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


class ProgressBar:
    EVERY_S = 5.0  # off a terminal: at most one activity line this often

    def __init__(self, label: str, total: int | None, stream: TextIO | None = None,
                 unit: str = "step", minimize: bool | None = None,
                 target: float | None = None, every_s: float | None = None) -> None:
        self.label = label
        self.minimize, self.target = minimize, target
        self.notice = ""  # shown at the end of the line until the next update (rate limits)
        self.total = total
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self.every_s = self.EVERY_S if every_s is None else every_s
        self._width = 0
        self._last: tuple[int, float | None, float | None, int, float] | None = None
        self._line = ""
        self._written = self.started  # when the last line was written
        self._calls = 0
        self._lock = threading.Lock()

    def update(self, done: int, score: float | None, best: float | None, tokens: int,
               cost: float = 0.0, keep_notice: bool = False) -> None:
        self._last = (done, score, best, tokens, cost)
        if not keep_notice:
            self.notice = ""
        elapsed = time.monotonic() - self.started
        if self.total:
            filled = int(20 * min(done, self.total) / self.total)
            bar = f"[{'#' * filled}{'.' * (20 - filled)}] {done}/{self.total}"
        else:
            bar = f"{self.unit} {done}"
        money = f" ${cost:.4f}" if cost else ""
        best_text = _score(best) if self.minimize is None else describe_score(
            best, self.minimize, self.target)
        notice = f" {self.notice}" if self.notice else ""
        line = (f"{self.label} {bar} score {_score(score)} best {best_text} "
                f"tokens {tokens}{money} {elapsed:.0f}s{notice}")
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

    def notify(self, text: str) -> None:
        """Show a passing condition (a rate limit being waited out) at the end of the
        progress line until the next update; a line of its own when not on a terminal."""
        self.notice = text
        if self.live and self._last is not None:
            self.update(*self._last, keep_notice=True)
        elif not self.live:
            with self._lock:
                self.stream.write(f"{self.label}: {text}\n")
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
