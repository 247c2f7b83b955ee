"""The run views rank scores by the one rule of agent/feedback.py: a NaN first score (a
feedback function that failed to measure) was once shown as the best."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from optograph.tasks.run_store import RunStore, StepRecord
from optograph.tasks.run_view import RunView


def _store(tmp_path: Path, scores: list[float | None], maximize: bool) -> Path:
    task = tmp_path / "t.yaml"
    text = f"name: t\nfeedback: {{function: m:f, maximize: {str(maximize).lower()}, target: 50}}\n"
    task.write_text(text)
    store = RunStore.create(tmp_path / "runs", "t", task, text)
    for step, score in enumerate(scores):
        store.add_step(StepRecord(step, 0.0, {"x": step}, score, None, "", {}, {"x": step},
                                  {}, 0, 0.0, None, None), [])
    store.close()
    return store.folder


@pytest.mark.parametrize(("maximize", "best", "x"), [(True, 5.0, 2), (False, 3.0, 1)])
def test_a_nan_first_score_is_never_best(tmp_path: Path, maximize: bool, best: float,
                                         x: int) -> None:
    view = RunView.load(_store(tmp_path, [math.nan, 3.0, 5.0, None], maximize))
    assert view.best() == (best, {"x": x})


def test_a_score_is_described_with_its_direction_and_target(tmp_path: Path) -> None:
    view = RunView.load(_store(tmp_path, [12.0], True))
    assert view.describe(view.best()[0]) == "12 (higher is better, target 50, not reached)"
