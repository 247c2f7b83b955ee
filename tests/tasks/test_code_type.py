"""A parameter declared `type: code` is checked as code whatever its name: a suggestion
that does not parse is refused, never applied (issue 17)."""

from __future__ import annotations

from pathlib import Path

from tasks_paths import EXAMPLES, scripted

from optograph.agent.validation import is_code_parameter
from optograph.tasks.cli import main
from optograph.tasks.prepare import prepare_task
from optograph.tasks.run_view import RunView
from optograph.tasks.task_file import load_task


def test_task_parameter_of_type_code_is_a_code_node() -> None:
    prepared = prepare_task(load_task(EXAMPLES / "code_fix.yaml"))
    code = prepared.make_parameters()["code"]
    assert code.value_type == "code" and is_code_parameter(code)


def test_code_fix_refuses_prose_for_its_code(tmp_path: Path) -> None:
    store = tmp_path / "runs"
    code = main(["run", str(EXAMPLES / "code_fix.yaml"), "--store", str(store), "--steps", "2",
                 "--llm", scripted("prose_code_optimizer")])
    assert code == 0
    (run,) = [p for p in store.iterdir() if p.is_dir()]
    view = RunView.load(run)
    assert all(not step.updates for step in view.steps)
    assert all("invalid syntax" not in step.feedback for step in view.steps)
    assert view.steps[-1].score == view.steps[0].score
