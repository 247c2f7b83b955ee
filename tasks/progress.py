"""A one-line live progress bar on stderr: step, current score, best score, tokens. On a
terminal it redraws in place; otherwise (a log file, a pipe) it prints one line per step."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from optograph.agent.feedback import describe_score


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


class ProgressBar:
    def __init__(self, label: str, total: int | None, stream: TextIO | None = None,
                 unit: str = "step", minimize: bool | None = None,
                 target: float | None = None) -> None:
        self.label = label
        self.minimize, self.target = minimize, target
        self.notice = ""  # shown at the end of the line until the next update (rate limits)
        self.total = total
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self._width = 0
        self._last: tuple[int, float | None, float | None, int, float] | None = None

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
        if self.live:
            pad = max(0, self._width - len(line))
            self.stream.write("\r" + line + " " * pad)
            self._width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def notify(self, text: str) -> None:
        """Show a passing condition (a rate limit being waited out) at the end of the
        progress line until the next update; a line of its own when not on a terminal."""
        self.notice = text
        if self.live and self._last is not None:
            self.update(*self._last, keep_notice=True)
        elif not self.live:
            self.stream.write(f"{self.label}: {text}\n")
            self.stream.flush()

    def message(self, text: str) -> None:
        if self.live and self._width:
            self.stream.write("\n")
            self._width = 0
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.live and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0
