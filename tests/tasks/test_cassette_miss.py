"""A replayed run that asks for a call its cassette does not hold is an error (exit 2, one
line), whether the optimizer or the workflow's own model made the call (issue 17)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tasks_paths import CASSETTES, EXAMPLES

from optograph.tasks.cli import main
from optograph.tasks.run_view import RunView


def _replay(task: str, cassette: Path, store: Path, *extra: str) -> int:
    return main(["run", str(EXAMPLES / f"{task}.yaml"), "--store", str(store), "--cassette",
                 str(cassette), "--cassette-mode", "replay", "--no-report", *extra])


def test_an_optimizer_call_missing_from_the_cassette_fails_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = (CASSETTES / "numeric.jsonl").read_text().splitlines(keepends=True)
    short = tmp_path / "numeric.jsonl"
    short.write_text(lines[0])  # the first optimizer call only
    code = _replay("numeric", short, tmp_path / "runs", "--steps", "3")
    err = capsys.readouterr().err
    assert code == 2
    assert "call not in cassette" in err.splitlines()[-1]
    view = RunView.load(next((tmp_path / "runs").iterdir()))
    assert view.status == "failed"
    assert len(view.steps) == 1  # the step before the miss is kept


@pytest.mark.parametrize("task", ["prompt_qa", "langgraph_qa"])
def test_a_workflow_call_missing_from_the_cassette_is_not_feedback(
        task: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    code = _replay(task, empty, tmp_path / "runs", "--steps", "1")
    assert code == 2
    assert "role 'workflow'" in capsys.readouterr().err  # the first call that missed
    view = RunView.load(next((tmp_path / "runs").iterdir()))
    assert view.steps == []  # nothing was judged on a failed call
