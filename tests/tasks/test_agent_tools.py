"""optograph's LangChain tools, as users' own agents use them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.tools import BaseTool
from pydantic import BaseModel, ValidationError
from tasks_paths import BROKEN, EXAMPLES, scripted

from optograph.tasks.agent_tools import (
    ListTasksTool,
    RunTaskTool,
    ShowRunTool,
    ValidateTaskTool,
    optograph_tools,
)


def test_every_tool_is_a_basetool_with_a_pydantic_schema() -> None:
    tools = optograph_tools()
    assert len({t.name for t in tools}) == len(tools)
    for tool in tools:
        assert isinstance(tool, BaseTool)
        assert isinstance(tool.args_schema, type) and issubclass(tool.args_schema, BaseModel)
        assert tool.description


def test_list_tasks_reads_names_and_reports_broken_files() -> None:
    listed = json.loads(ListTasksTool().invoke({"folder": str(EXAMPLES)}))
    assert {"numeric", "prompt_qa", "code_fix"} <= {t.get("name") for t in listed}
    broken = json.loads(ListTasksTool().invoke({"folder": str(BROKEN)}))
    assert any("error" in t and "unknown field" in t["error"] for t in broken)


def test_validate_task_returns_the_error_line() -> None:
    result = json.loads(ValidateTaskTool().invoke({"path": str(BROKEN / "unknown_field.yaml")}))
    assert result["valid"] is False and "colour: unknown field" in result["error"]


def test_run_then_show(tmp_path: Path) -> None:
    store = tmp_path / "runs"
    ran = json.loads(RunTaskTool().invoke({
        "path": str(EXAMPLES / "numeric.yaml"), "store": str(store),
        "llm": scripted("numeric_optimizer")}))
    assert ran["best_score"] == 90.0 and ran["steps"] == 2
    shown = json.loads(ShowRunTool().invoke({"run": ran["run"]}))
    assert shown["scores"] == [6.0, 90.0] and shown["task"] == "numeric"


def test_arguments_are_validated() -> None:
    with pytest.raises(ValidationError):
        RunTaskTool().invoke({"path": "x.yaml", "steps": 0})
