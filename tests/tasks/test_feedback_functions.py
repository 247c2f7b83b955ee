"""What feedback functions may return, and the built-in feedback functions."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from optograph.graph.sandbox import SandboxUnavailable, bwrap_problem
from optograph.tasks.errors import TaskError
from optograph.tasks.feedback_functions import (
    Judged,
    exact_match,
    fid_feedback,
    judge,
    numeric_target,
    pytest_code,
)

BWRAP_MISSING = bwrap_problem()
MODES = [pytest.param("bwrap", marks=pytest.mark.skipif(BWRAP_MISSING is not None,
                                                      reason=BWRAP_MISSING or "")), "process"]


@pytest.mark.parametrize(("result", "score", "feedback"), [
    (3, 3.0, "score: 3"),
    ("make it larger", None, "make it larger"),
    ((0.5, "half right"), 0.5, "half right"),
    ({"score": 2, "feedback": "ok"}, 2.0, "ok"),
    ({"score": 1, "accuracy": 0.5, "note": "x"}, 1.0, {"accuracy": 0.5, "note": "x", "score": 1.0}),
])
def test_judge_normalises_every_accepted_shape(result: object, score: float | None,
                                               feedback: object) -> None:
    assert judge(result, "f") == Judged(score, feedback)  # type: ignore[arg-type]


@pytest.mark.parametrize("result", [None, [1, 2], True, ("a", "b")])
def test_judge_rejects_other_values(result: object) -> None:
    with pytest.raises(TaskError, match="feedback f returned"):
        judge(result, "f")


def test_exact_match() -> None:
    fb = exact_match({"field": "answer"})
    assert fb(" paris ", {"answer": "Paris"}) == Judged(1.0, "Correct.")
    wrong = fb("Lyon", {"question": "Capital of France?", "answer": "Paris"})
    assert wrong.score == 0.0 and "expected 'Paris'" in wrong.feedback and "France" in wrong.feedback
    with pytest.raises(TaskError, match="no expected value"):
        fb("x", {"other": 1})
    assert exact_match({"expected": "A", "case_sensitive": True})("a").score == 0.0


def test_numeric_target() -> None:
    fb = numeric_target({"target": 10})
    assert fb(10).score == 0.0
    low = fb(7)
    assert low.score == -3.0 and "larger" in str(low.feedback)
    assert "smaller" in str(fb(12).feedback)
    assert fb("abc").score == -math.inf
    per_example = numeric_target({"field": "y"})
    assert per_example(4, {"y": 5}).score == -1.0


@pytest.mark.filterwarnings("ignore::optograph.graph.sandbox.WeakSandboxWarning")
@pytest.mark.parametrize("mode", MODES)
def test_pytest_feedback_scores_the_share_of_passing_tests(tmp_path: Path, mode: str) -> None:
    (tmp_path / "checks.py").write_text(
        "from solution import f\n"
        "def test_one():\n    assert f(1) == 2\n"
        "def test_two():\n    assert f(2) == 4\n"
    )
    fb = pytest_code({"tests": "checks.py", "sandbox": mode}, tmp_path)
    assert fb("def f(x):\n    return x * 2\n") == Judged(1.0, "All 2 tests pass.")
    half = fb("def f(x):\n    return 2 if x == 1 else 0\n")
    assert half.score == 0.5 and "1 of 2 tests pass" in str(half.feedback)
    broken = fb("def f(x) return")
    assert broken.score == 0.0
    with pytest.raises(TaskError, match="no such test file"):
        pytest_code({"tests": "missing.py"}, tmp_path)


@pytest.mark.filterwarnings("ignore::optograph.graph.sandbox.WeakSandboxWarning")
@pytest.mark.parametrize("mode", MODES)
def test_pytest_feedback_runs_in_the_sandbox_and_scrubs_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-pytest-0123456789")
    (tmp_path / "checks.py").write_text(
        "import os\nfrom solution import f\n"
        "def test_env():\n    assert f() == 'x'\n"
        "def test_home():\n    assert not os.path.exists(os.path.expanduser('~/.bashrc'))\n"
    )
    fb = pytest_code({"tests": "checks.py", "sandbox": mode, "timeout_s": 60}, tmp_path)
    # the key is not in the cleared environment: nothing to print
    judged = fb("import os\ndef f():\n    return os.environ.get('OPENAI_API_KEY', 'x')\n")
    assert judged == Judged(1.0, "All 2 tests pass.")
    # allow-listed on purpose and printed by a failing test: scrubbed from the feedback
    monkeypatch.setenv("OPTOGRAPH_SANDBOX_ENV", "OPENAI_API_KEY")
    leaked = fb("import os\ndef f():\n    print(os.environ['OPENAI_API_KEY'])\n"
                "    return os.environ['OPENAI_API_KEY']\n")
    assert leaked.score is not None and leaked.score < 1
    assert "sk-pytest" not in str(leaked.feedback)
    assert "[redacted $OPENAI_API_KEY]" in str(leaked.feedback)


def test_pytest_feedback_refuses_without_bwrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTOGRAPH_BWRAP", str(tmp_path / "missing-bwrap"))
    monkeypatch.delenv("OPTOGRAPH_SANDBOX", raising=False)
    (tmp_path / "checks.py").write_text("def test_one():\n    pass\n")
    fb = pytest_code({"tests": "checks.py"}, tmp_path)
    with pytest.raises(SandboxUnavailable, match="OPTOGRAPH_SANDBOX=process"):
        fb("x = 1\n")
    with pytest.raises(TaskError, match="options.sandbox 'inline'"):
        pytest_code({"tests": "checks.py", "sandbox": "inline"}, tmp_path)


def test_fid_feedback_prefers_lower_fid() -> None:
    fb = fid_feedback({})
    better, worse = fb({"fid": 10.0, "macs": 1e9}), fb({"fid": 20.0})
    assert better.score is not None and worse.score is not None and better.score > worse.score
    assert "FID 10.000" in str(better.feedback) and "MACs" in str(better.feedback)
    with pytest.raises(TaskError, match="holds no FID"):
        fb({"nothing": 1})
