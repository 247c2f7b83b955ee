"""Example runs recorded once with the embedded local model replay offline from their
cassettes (tests/tasks/cassettes/) and reproduce the recorded run: the same updates, taken
from the recorded replies, and the same scores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tasks_paths import CASSETTES, EXAMPLES

from optograph.agent.reply_parser import parse_reply
from optograph.tasks.cli import main
from optograph.tasks.run_view import RunView


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


def _replay(task: str, steps: int, store: Path) -> RunView:
    cassette = CASSETTES / f"{task}.jsonl"
    if not cassette.is_file():
        pytest.skip(f"no cassette recorded for {task}")
    code = main(["run", str(EXAMPLES / f"{task}.yaml"), "--steps", str(steps), "--store",
                 str(store), "--cassette", str(cassette), "--cassette-mode", "replay"])
    assert code == 0
    view = RunView.load(next(store.iterdir()))
    stale = [r.note for r in view.steps if r.note and "not in cassette" in r.note]
    assert not stale, (
        f"the {task} cassette no longer matches the prompts (the optimizer's prompt changed); "
        f"re-record it: optograph run tasks/examples/{task}.yaml --steps {steps} "
        f"--cassette {cassette.relative_to(CASSETTES.parents[2])} --cassette-mode record"
    )
    return view


def test_numeric_replay_applies_the_recorded_suggestions(tmp_path: Path) -> None:
    view = _replay("numeric", 3, tmp_path / "runs")
    suggestions = _optimizer_suggestions(CASSETTES / "numeric.jsonl")
    assert len(view.steps) == 3
    updates = [r.updates for r in view.steps if r.updates]
    assert updates, "the recorded run changed x at least once"
    recorded = {float(s["x"]) for s in suggestions if "x" in s}
    assert {u["x"] for u in updates} <= recorded  # every change came from a recorded reply
    for record in view.steps:
        x = record.values["x"]
        assert record.score == pytest.approx((-2 * x) * (-2 * x + 1))  # foobar(x)


def test_numeric_replay_is_reproducible(tmp_path: Path) -> None:
    first = _replay("numeric", 3, tmp_path / "a")
    second = _replay("numeric", 3, tmp_path / "b")
    assert [(r.values, r.score, r.updates) for r in first.steps] == [
        (r.values, r.score, r.updates) for r in second.steps]
    assert first.totals()["tokens"] == second.totals()["tokens"] > 0


# steps each cassette was recorded with (the LangGraph example makes ~15 calls a step)
RECORDED_STEPS = {"code_fix": 2, "prompt_qa": 2, "langgraph_qa": 1}


@pytest.mark.parametrize("task", sorted(RECORDED_STEPS))
def test_example_replays_offline(task: str, tmp_path: Path) -> None:
    view = _replay(task, RECORDED_STEPS[task], tmp_path / "runs")
    assert len(view.steps) == RECORDED_STEPS[task]
    assert view.steps[0].score is not None
    assert view.calls, "the replayed calls are logged"
    again = _replay(task, RECORDED_STEPS[task], tmp_path / "again")
    assert [(r.values, r.score, r.feedback) for r in again.steps] == [
        (r.values, r.score, r.feedback) for r in view.steps]
