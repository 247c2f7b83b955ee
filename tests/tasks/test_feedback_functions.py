"""What feedback functions may return, and the built-in feedback functions."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from optograph.agent.errors import OptimizerError
from optograph.agent.feedback import parse_feedback
from optograph.graph.sandbox import SandboxUnavailable, bwrap_problem
from optograph.tasks.errors import TaskError
from optograph.tasks.feedback_functions import (
    exact_match,
    fid_feedback,
    numeric_target,
    pytest_code,
)

BWRAP_MISSING = bwrap_problem()
MODES = [pytest.param("bwrap", marks=pytest.mark.skipif(BWRAP_MISSING is not None,
                                                      reason=BWRAP_MISSING or "")), "process"]


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


@pytest.mark.filterwarnings("ignore::optograph.graph.sandbox.WeakSandboxWarning")
@pytest.mark.parametrize("mode", MODES)
def test_pytest_feedback_scores_the_share_of_passing_tests(tmp_path: Path, mode: str) -> None:
    (tmp_path / "checks.py").write_text(
        "from solution import f\n"
        "def test_one():\n    assert f(1) == 2\n"
        "def test_two():\n    assert f(2) == 4\n"
    )
    fb = pytest_code({"tests": "checks.py"}, tmp_path)
    assert fb("def f(x):\n    return x * 2\n") == (1.0, "All 2 tests pass.")
    fb = pytest_code({"tests": "checks.py", "sandbox": mode}, tmp_path)
    assert fb("def f(x):\n    return x * 2\n") == (1.0, "All 2 tests pass.")
    half = fb("def f(x):\n    return 2 if x == 1 else 0\n")
    assert half[0] == 0.5 and "1 of 2 tests pass" in str(half[1])
    broken = fb("def f(x) return")
    assert broken[0] == 0.0
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
    assert judged == (1.0, "All 2 tests pass.")
    # allow-listed on purpose and printed by a failing test: scrubbed from the feedback
    monkeypatch.setenv("OPTOGRAPH_SANDBOX_ENV", "OPENAI_API_KEY")
    leaked = fb("import os\ndef f():\n    print(os.environ['OPENAI_API_KEY'])\n"
                "    return os.environ['OPENAI_API_KEY']\n")
    assert leaked[0] < 1
    assert "sk-pytest" not in str(leaked[1])
    assert "[redacted $OPENAI_API_KEY]" in str(leaked[1])


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
    # the score is the FID itself (the task file declares lower is better: maximize false)
    assert (better[0], worse[0]) == (10.0, 20.0)
    assert "FID 10.000" in str(better[1]) and "lower is better" in str(better[1])
    assert "MACs" in str(better[1])
    with pytest.raises(TaskError, match="holds no FID"):
        fb({"nothing": 1})
