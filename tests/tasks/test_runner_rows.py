"""The run record's rows when the loop records a step twice: a kill -9 between a step's row
and the loop's checkpoint makes the resumed loop record that step again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tasks_paths import EXAMPLES, scripted

from optograph.tasks.prepare import prepare_task
from optograph.tasks.run_store import RunStore
from optograph.tasks.runner import RunOptions, TaskRun
from optograph.tasks.task_file import load_task

TASK = EXAMPLES / "numeric.yaml"


def task_run(folder: Path | None, store: Path, tokens: int) -> TaskRun:
    """A TaskRun on a new run folder (or `folder`), its LLM usage reading `tokens`."""
    task = load_task(TASK)
    record = (RunStore.open(folder) if folder is not None
              else RunStore.create(store, task.spec.name, TASK, TASK.read_text()))
    run = TaskRun(prepare_task(task), record, RunOptions(llm=scripted("numeric_optimizer")))
    run.llms.tokens = lambda: tokens  # type: ignore[method-assign]
    return run


def entry(step: int, values: dict[str, Any], next_values: dict[str, Any]) -> dict[str, Any]:
    updates = {k: v for k, v in next_values.items() if values.get(k) != v}
    return {"step": step, "score": 1.0, "feedback": "f", "values": values,
            "updates": updates, "next_values": next_values, "note": None}


def test_a_step_recorded_again_after_a_kill_keeps_its_row(tmp_path: Path) -> None:
    first = task_run(None, tmp_path / "runs", tokens=10)
    first.write_row(entry(0, {"x": 1.0}, {"x": 2.0}), {"steps_done": 1}, 1.0)
    before = first.store.steps()
    folder = first.store.folder
    first.store.close()
    resumed = task_run(folder, tmp_path / "runs", tokens=99)  # the resumed process's counts
    resumed.write_row(entry(0, {"x": 1.0}, {"x": 2.0}), {"steps_done": 1}, 1.0)
    assert resumed.store.steps() == before
    resumed.write_row(entry(1, {"x": 2.0}, {"x": 3.0}), {"steps_done": 2}, 1.0)
    assert [r.step for r in resumed.store.steps()] == [0, 1]
    assert resumed.store.steps()[1].tokens == 99


def test_the_last_row_of_a_finished_run_gets_its_proposal_on_resume(tmp_path: Path) -> None:
    first = task_run(None, tmp_path / "runs", tokens=10)
    first.write_row(entry(0, {"x": 2.0}, {"x": 2.0}), {"steps_done": 1}, 1.0)  # final: no proposal
    folder = first.store.folder
    first.store.close()
    resumed = task_run(folder, tmp_path / "runs", tokens=20)
    resumed.write_row(entry(0, {"x": 2.0}, {"x": 4.0}), {"steps_done": 1}, 1.0)
    (row,) = resumed.store.steps()
    assert row.updates == {"x": 4.0} and row.next_values == {"x": 4.0} and row.tokens == 20
