"""What feedback functions may return, and the built-in feedback functions."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from optograph.agent.errors import OptimizerError
from optograph.agent.feedback import parse_feedback
from optograph.tasks.errors import TaskError
from optograph.tasks.feedback_functions import (
    exact_match,
    fid_feedback,
    numeric_target,
    pytest_code,
)


@pytest.mark.parametrize(("result", "score"), [
    (3, 3.0),
    ("make it larger", None),
    ("0.25", 0.25),  # the task runner once read this as text only; one convention now
    ((0.5, "half right"), 0.5),
    ({"score": 2, "feedback": "ok"}, 2.0),
    (exact_match({})("Paris", {"answer": "Paris"}), 1.0),
])
def test_task_feedback_follows_the_one_convention(result: object, score: float | None) -> None:
    assert parse_feedback(result, "f").score == score


@pytest.mark.parametrize("result", [None, [1, 2], True, ("a", "b")])
def test_other_feedback_values_are_refused(result: object) -> None:
    with pytest.raises(OptimizerError, match="^f: "):
        parse_feedback(result, "f")


def test_exact_match() -> None:
    fb = exact_match({"field": "answer"})
    assert fb(" paris ", {"answer": "Paris"}) == (1.0, "Correct.")
    wrong = fb("Lyon", {"question": "Capital of France?", "answer": "Paris"})
    assert wrong[0] == 0.0 and "expected 'Paris'" in wrong[1] and "France" in wrong[1]
    with pytest.raises(TaskError, match="no expected value"):
        fb("x", {"other": 1})
    assert exact_match({"expected": "A", "case_sensitive": True})("a")[0] == 0.0


def test_numeric_target() -> None:
    fb = numeric_target({"target": 10})
    assert fb(10)[0] == 0.0
    low = fb(7)
    assert low[0] == -3.0 and "larger" in str(low[1])
    assert "smaller" in str(fb(12)[1])
    assert fb("abc")[0] == -math.inf
    per_example = numeric_target({"field": "y"})
    assert per_example(4, {"y": 5})[0] == -1.0


def test_pytest_feedback_scores_the_share_of_passing_tests(tmp_path: Path) -> None:
    (tmp_path / "checks.py").write_text(
        "from solution import f\n"
        "def test_one():\n    assert f(1) == 2\n"
        "def test_two():\n    assert f(2) == 4\n"
    )
    fb = pytest_code({"tests": "checks.py"}, tmp_path)
    assert fb("def f(x):\n    return x * 2\n") == (1.0, "All 2 tests pass.")
    half = fb("def f(x):\n    return 2 if x == 1 else 0\n")
    assert half[0] == 0.5 and "1 of 2 tests pass" in str(half[1])
    broken = fb("def f(x) return")
    assert broken[0] == 0.0
    with pytest.raises(TaskError, match="no such test file"):
        pytest_code({"tests": "missing.py"}, tmp_path)


def test_fid_feedback_prefers_lower_fid() -> None:
    fb = fid_feedback({})
    better, worse = fb({"fid": 10.0, "macs": 1e9}), fb({"fid": 20.0})
    assert better[0] is not None and worse[0] is not None and better[0] > worse[0]
    assert "FID 10.000" in str(better[1]) and "MACs" in str(better[1])
    with pytest.raises(TaskError, match="holds no FID"):
        fb({"nothing": 1})
