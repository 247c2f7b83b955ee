"""`--llm` is the optimizer's model and, unless told otherwise, the workflow's; the workflow's
own model comes from `--workflow-llm` or the task file's `optimizer.workflow_llm` (issue 17)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tasks_paths import EXAMPLES, scripted

from optograph.tasks.cli import build_parser, main
from optograph.tasks.run_view import RunView


def _models_by_role(store: Path) -> dict[str, set[str]]:
    view = RunView.load(next(store.iterdir()))
    roles: dict[str, set[str]] = {}
    for call in view.calls:
        roles.setdefault(call.role, set()).add(call.model)
    return roles


def test_help_says_which_model_each_flag_sets(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--workflow-llm SPEC" in text
    assert "also the workflow's model" in text


def test_llm_drives_both_roles_unless_the_workflow_has_its_own(store: Path) -> None:
    task = str(EXAMPLES / "prompt_qa.yaml")
    assert main(["run", task, "--store", str(store / "a"), "--steps", "2", "--no-report",
                 "--llm", scripted("prompt_optimizer")]) == 0
    assert _models_by_role(store / "a") == {"optimizer": {"scripted-task"},
                                            "workflow": {"scripted-task"}}
    assert main(["run", task, "--store", str(store / "b"), "--steps", "2", "--no-report",
                 "--llm", scripted("prompt_optimizer"),
                 "--workflow-llm", scripted("capitals_model")]) == 0
    assert _models_by_role(store / "b") == {"optimizer": {"scripted-task"},
                                            "workflow": {"scripted-capitals"}}


def test_task_file_workflow_llm_and_its_override(tmp_path: Path) -> None:
    folder = tmp_path / "task"
    shutil.copytree(EXAMPLES, folder, ignore=shutil.ignore_patterns("__pycache__"))
    text = (folder / "prompt_qa.yaml").read_text()
    (folder / "prompt_qa.yaml").write_text(
        text.replace("  llm: local\n", f"  llm: local\n  workflow_llm: {scripted('capitals_model')}\n"))
    store = tmp_path / "runs"
    assert main(["run", str(folder / "prompt_qa.yaml"), "--store", str(store / "a"),
                 "--steps", "2", "--no-report", "--llm", scripted("prompt_optimizer")]) == 0
    assert _models_by_role(store / "a")["workflow"] == {"scripted-capitals"}
    assert main(["run", str(folder / "prompt_qa.yaml"), "--store", str(store / "b"),
                 "--steps", "2", "--no-report", "--llm", scripted("prompt_optimizer"),
                 "--workflow-llm", scripted("prompt_optimizer")]) == 0
    assert _models_by_role(store / "b")["workflow"] == {"scripted-task"}
