"""A run is never silent for long: between step lines the progress shows each example of a
batch and each model call (issue 17: prompt_qa printed nothing for 89 s)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from tasks_paths import EXAMPLES, scripted

from optograph.tasks.progress import ProgressBar
from optograph.tasks.runner import RunOptions, run_task


def test_examples_and_model_calls_show_between_steps(store: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ProgressBar, "EVERY_S", 0.0)  # off a terminal: every activity line
    stream = io.StringIO()
    run_task(EXAMPLES / "prompt_qa.yaml", RunOptions(
        llm=scripted("prompt_optimizer"), steps=2, store=store, progress=stream))
    lines = stream.getvalue().splitlines()
    first_step = next(i for i, line in enumerate(lines) if "1/2 score" in line)
    before = "\n".join(lines[:first_step])
    for n in range(1, 5):
        assert f"example {n}/4" in before
    assert "workflow call 1 (scripted-task) ..." in before
    assert "workflow call 1 done in" in before
    assert "optimizer call 5" in "\n".join(lines)


def test_off_a_terminal_activity_lines_are_rate_limited() -> None:
    stream = io.StringIO()
    bar = ProgressBar("t", 2, stream, every_s=3600)
    bar.update(1, 1.0, 1.0, 10)
    for n in range(1, 50):
        bar.example(n, 50)
    assert stream.getvalue().count("\n") == 1  # only the step line within the hour
