"""`optograph chat`: an agent whose tools are optograph's. Scripted models call the tools;
the calls and their results are shown as they happen, and results reach the model."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from tasks_paths import EXAMPLES, REPO, scripted
from tasks_scripted_models import JsonOnlyModel, ScriptedToolModel

from optograph.tasks.agent_tools import optograph_tools
from optograph.tasks.chat import JsonToolCaller, build_chat_agent, chat_turn


def test_tool_calling_model_lists_and_validates() -> None:
    model = ScriptedToolModel(script=[
        {"tool": "list_tasks", "args": {"folder": str(EXAMPLES)}},
        {"tool": "validate_task", "args": {"path": str(EXAMPLES / "numeric.yaml")}},
        "Validation said: {last_tool_result}",
    ])
    agent = build_chat_agent(model, optograph_tools(include_diffusion=False))
    out = io.StringIO()
    answer = chat_turn(agent, "which tasks are there, and is numeric valid?", "t1", out)
    shown = out.getvalue()
    assert shown.index("-> list_tasks") < shown.index("<- list_tasks") < shown.index(
        "-> validate_task") < shown.index("<- validate_task")
    assert '"name": "numeric"' in shown
    assert answer.startswith("Validation said: ")
    assert json.loads(answer.removeprefix("Validation said: "))["valid"] is True


def test_conversation_keeps_its_history() -> None:
    model = ScriptedToolModel(script=["first answer", "second answer"], seen=[])
    agent = build_chat_agent(model, optograph_tools(include_diffusion=False))
    chat_turn(agent, "hello", "t2", io.StringIO())
    assert chat_turn(agent, "again", "t2", io.StringIO()) == "second answer"
    # system, human, ai, human on the second call
    assert model.seen[-1] == ["system", "human", "ai", "human"]


def test_a_tool_error_is_shown_to_the_model_not_raised() -> None:
    model = ScriptedToolModel(script=[
        {"tool": "show_run", "args": {"run": "/no/such/run"}},
        "The tool said: {last_tool_result}",
    ])
    agent = build_chat_agent(model, optograph_tools(include_diffusion=False))
    answer = chat_turn(agent, "show that run", "t3", io.StringIO())
    assert "no such run folder" in answer


def test_model_without_tool_calling_uses_the_json_protocol() -> None:
    model = JsonOnlyModel()
    tools = optograph_tools(include_diffusion=False)
    caller = JsonToolCaller(model, tools)
    assert set(caller.schema["properties"]["tool"]["enum"]) == {t.name for t in tools} | {"none"}
    agent = build_chat_agent(model, tools)
    out = io.StringIO()
    answer = chat_turn(agent, "what tasks are there?", "t4", out)
    assert "-> list_tasks" in out.getvalue() and "<- list_tasks" in out.getvalue()
    assert answer == "There is a numeric task."


def test_chat_command_with_a_scripted_model() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "optograph", "chat", "--no-diffusion",
         "--llm", scripted("chat_lists_then_validates")],
        input="what can I run?\n", capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "-> list_tasks" in done.stdout and "-> validate_task" in done.stdout
    assert "optograph> Validation said:" in done.stdout


@pytest.mark.parametrize("spec", ["nosuch:model", "python:/no/such/file.py:model"])
def test_chat_command_bad_model(spec: str) -> None:
    done = subprocess.run([sys.executable, "-m", "optograph", "chat", "--llm", spec],
                          input="", capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_model_that_keeps_calling_tools_is_made_to_answer() -> None:
    from tasks_scripted_models import LoopingJsonModel

    model = LoopingJsonModel()
    agent = build_chat_agent(model, optograph_tools(include_diffusion=False))
    out = io.StringIO()
    answer = chat_turn(agent, "list the runs", "t5", out)
    shown = out.getvalue()
    assert 1 <= shown.count("-> list_runs") <= 3
    assert '"title"' not in shown  # arguments the tool does not take are dropped
    assert answer.startswith("The list_runs tool returned:")
