"""Example runs recorded once with the embedded local model replay offline from their
cassettes (tests/tasks/cassettes/), with each task file's own defaults, and reproduce the
recorded run: the same updates, taken from the recorded replies, and the same scores.
Re-record them with `python tests/tasks/record_cassettes.py` when the prompts change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tasks_paths import CASSETTES, EXAMPLES

from optograph.agent.reply_parser import parse_reply
from optograph.tasks.cli import main
from optograph.tasks.run_view import RunView
from optograph.tasks.task_file import load_task


def _optimizer_suggestions(cassette: Path) -> list[dict[str, Any]]:
    """The suggestion of every recorded optimizer reply, in order."""
    suggestions = []
    for line in cassette.read_text().splitlines():
        entry = json.loads(line)
        prompt = json.dumps(entry["messages"])
        if "#Variables" not in prompt:
            continue  # a call of the workflow's own model
        suggestions.append(parse_reply(entry["reply"]["data"]["content"]).suggestion)
    return suggestions


def _replay(task: str, store: Path, capsys: pytest.CaptureFixture[str]) -> RunView:
    """Replay the shipped cassette of `task` with the task file's own defaults."""
    cassette = CASSETTES / f"{task}.jsonl"
    code = main(["run", str(EXAMPLES / f"{task}.yaml"), "--store", str(store), "--no-report",
                 "--cassette", str(cassette), "--cassette-mode", "replay"])
    err = capsys.readouterr().err
    assert code == 0, (
        f"the {task} cassette no longer replays the task ({err.strip().splitlines()[-1]}); "
        f"if the prompts or the call sequence changed on purpose, re-record it: "
        f"python tests/tasks/record_cassettes.py {task}"
    )
    return RunView.load(next(store.iterdir()))


SHIPPED = sorted(p.stem for p in CASSETTES.glob("*.jsonl"))


def test_numeric_replay_applies_the_recorded_suggestions(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    view = _replay("numeric", tmp_path / "runs", capsys)
    suggestions = _optimizer_suggestions(CASSETTES / "numeric.jsonl")
    updates = [r.updates for r in view.steps if r.updates]
    assert updates, "the recorded run changed x at least once"
    recorded = {float(s["x"]) for s in suggestions if "x" in s}
    assert {u["x"] for u in updates} <= recorded  # every change came from a recorded reply
    for record in view.steps:
        x = record.values["x"]
        assert record.score == pytest.approx((-2 * x) * (-2 * x + 1))  # foobar(x)


def test_numeric_replay_is_reproducible(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = _replay("numeric", tmp_path / "a", capsys)
    second = _replay("numeric", tmp_path / "b", capsys)
    assert [(r.values, r.score, r.updates) for r in first.steps] == [
        (r.values, r.score, r.updates) for r in second.steps]
    assert first.totals()["tokens"] == second.totals()["tokens"] > 0


def test_every_example_has_a_cassette() -> None:
    assert {"numeric", "prompt_qa", "code_fix", "langgraph_qa"} <= set(SHIPPED)


@pytest.mark.parametrize("task", SHIPPED)
def test_shipped_cassette_replays_its_task_with_the_task_defaults(
        task: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    view = _replay(task, tmp_path / "runs", capsys)
    status = view.status
    default_steps = load_task(EXAMPLES / f"{task}.yaml").spec.budget.steps
    assert len(view.steps) == default_steps or status.startswith("stopped:"), status
    assert view.steps[0].score is not None
    assert view.calls, "the replayed calls are logged"
    again = _replay(task, tmp_path / "again", capsys)
    assert [(r.values, r.score, r.feedback) for r in again.steps] == [
        (r.values, r.score, r.feedback) for r in view.steps]
