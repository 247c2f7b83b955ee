"""Feedback: what a feedback function may return, and the built-in feedback functions.

A feedback function is called as `feedback(output, example)` (or `feedback(output)` when the
task has no data) with the plain output value. What it returns follows the one convention of
agent/feedback.py (`parse_feedback`): a score (a number), a text (a text that is only a number
is that score), a `(score, text)` pair, or a dict with `score` (other keys are shown as text)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from optograph.graph.sandbox import SCRATCH as SANDBOX_SCRATCH
from optograph.graph.sandbox import SandboxConfig, SandboxError, ready_mode, run_module

from .errors import TaskError

FeedbackFunction = Callable[..., Any]


Judged = tuple[float, str]  # what a built-in returns: (score, text), as any feedback may


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


# -- built-ins -----------------------------------------------------------------------------


def _expected(example: Any, options: dict[str, Any], builtin: str) -> Any:
    if "expected" in options:
        return options["expected"]
    field = options.get("field", "answer")
    if isinstance(example, dict) and field in example:
        return example[field]
    raise TaskError(
        f"feedback {builtin}: no expected value: give options.expected, or examples with a "
        f"{field!r} field"
    )


def exact_match(options: dict[str, Any]) -> FeedbackFunction:
    """Score 1 when the output equals the expected answer (case and surrounding spaces
    ignored unless options.case_sensitive), else 0 with the expected answer in the text."""
    case_sensitive = bool(options.get("case_sensitive", False))

    def feedback(output: Any, example: Any = None) -> Judged:
        expected = _expected(example, options, "exact_match")
        got, want = str(output).strip(), str(expected).strip()
        if not case_sensitive:
            got, want = got.lower(), want.lower()
        if got == want:
            return (1.0, "Correct.")
        question = example.get("question") if isinstance(example, dict) else None
        about = f" for the question {question!r}" if question else ""
        return (0.0, f"Wrong{about}: expected {expected!r}, got {str(output)!r:.200}.")

    return feedback


def numeric_target(options: dict[str, Any]) -> FeedbackFunction:
    """Score = -|output - target| (0 is perfect); the text says which way to move."""
    tolerance = float(options.get("tolerance", 1e-9))

    def feedback(output: Any, example: Any = None) -> Judged:
        target = _number(_expected(example, {"expected": options["target"]} if "target" in options
                                   else options, "numeric_target"))
        value = _number(output)
        if target is None:
            raise TaskError("feedback numeric_target: the target is not a number")
        if value is None or math.isnan(value):
            return (-math.inf, f"The output {output!r:.80} is not a number; it must be one.")
        gap = value - target
        if abs(gap) <= tolerance:
            return (0.0, f"Success: the output {value:g} equals the target.")
        direction = "smaller" if gap > 0 else "larger"
        return (-abs(gap), f"The output is {value:g}; it needs to be {direction} (target {target:g}).")

    return feedback


def pytest_code(options: dict[str, Any], folder: Path) -> FeedbackFunction:
    """Write the output (Python source) to `<module>.py` next to a copy of the test file, run
    pytest on it inside the sandbox (docs/sandbox.md; options.sandbox "bwrap" or "process",
    options.timeout_s, options.memory_mb), score = share of tests passing, text = the
    failures with secret values scrubbed."""
    if "tests" not in options:
        raise TaskError("feedback pytest: options.tests (the test file) is required")
    tests = (folder / str(options["tests"])).resolve()
    if not tests.is_file():
        raise TaskError(f"feedback pytest: no such test file {str(tests)!r}")
    module = str(options.get("module", "solution"))
    if not module.isidentifier():  # a module name, never a path (`../x` would write outside)
        raise TaskError(f"feedback pytest: options.module must be a Python module name; "
                        f"got {module[:60]!r}")
    timeout_s = float(options.get("timeout_s", 60))
    mode = options.get("sandbox")
    if mode not in (None, "bwrap", "process"):
        raise TaskError(f"feedback pytest: options.sandbox {mode!r}: expected 'bwrap' or 'process'")
    config = SandboxConfig(mode=mode, timeout_s=timeout_s,
                           memory_mb=int(options.get("memory_mb", 1024)))
    argv = ["-q", "-p", "no:cacheprovider", "--tb=line", "-o", "addopts=", tests.name]

    def feedback(output: Any, example: Any = None) -> Judged:
        files = {f"{module}.py": str(output), tests.name: tests.read_text()}
        try:
            _status, log = run_module("pytest", argv, files, config, ready_mode(config))
        except SandboxError as exc:
            if exc.kind == "timeout":
                return (0.0, f"The tests did not finish within {timeout_s:g} s.")
            raise
        # the feedback must not depend on where or how fast the tests ran (cassettes replay
        # a run only when its prompts are the same)
        log = log.replace(SANDBOX_SCRATCH + "/", "")
        return _pytest_judgement(re.sub(r" in \d+(\.\d+)?s\b", "", log))

    return feedback


def _pytest_judgement(log: str) -> Judged:
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|error|errors)", log)}
    passed = counts.get("passed", 0)
    total = passed + counts.get("failed", 0) + counts.get("error", 0) + counts.get("errors", 0)
    if total and passed == total:
        return (1.0, f"All {total} tests pass.")
    lines = [line for line in log.splitlines() if line.strip() and not line.startswith("=")]
    detail = "\n".join(lines[-15:])
    score = passed / total if total else 0.0
    return (score, f"{passed} of {total} tests pass.\n{detail}")


def fid_feedback(options: dict[str, Any]) -> FeedbackFunction:
    """The diffusion tool's FID as the score (lower is better: the task file's feedback
    declares maximize: false, which task_file.py sets for this builtin)."""

    def feedback(output: Any, example: Any = None) -> Judged:
        fid = output.get("fid") if isinstance(output, dict) else output
        value = _number(fid)
        if value is None:
            raise TaskError(f"feedback fid: the workflow output {output!r:.80} holds no FID")
        extra = ""
        if isinstance(output, dict) and "macs" in output:
            extra = f", MACs {float(output['macs']):.3g}"
        return (value, f"FID {value:.3f}{extra}; lower is better.")

    return feedback


def builtin_feedback(name: str, options: dict[str, Any], folder: Path) -> FeedbackFunction:
    if name == "exact_match":
        return exact_match(options)
    if name == "numeric_target":
        return numeric_target(options)
    if name == "pytest":
        return pytest_code(options, folder)
    if name == "fid":
        return fid_feedback(options)
    raise TaskError(f"unknown builtin feedback {name!r}")
