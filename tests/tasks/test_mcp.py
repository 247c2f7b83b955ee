"""`optograph mcp`: the MCP server on stdio, driven by the SDK's own client."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client
from tasks_paths import EXAMPLES, REPO, scripted


async def _session_calls(calls: list[tuple[str, dict[str, Any]]]) -> tuple[list[Any], list[Any]]:
    # the examples (in the repository) and the store (in tmp_path) are in different folders:
    # serve the whole file system (confinement to --root: test_hostile_inputs.py)
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "optograph", "mcp", "--no-diffusion", "--root", "/"],
        cwd=str(REPO))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            listed = (await session.list_tools()).tools
            results = [await session.call_tool(name, args) for name, args in calls]
    return listed, results


def test_mcp_round_trip(tmp_path: Path) -> None:
    store = tmp_path / "runs"
    calls = [
        ("validate_task", {"path": str(EXAMPLES / "numeric.yaml")}),
        ("run_task", {"path": str(EXAMPLES / "numeric.yaml"), "store": str(store),
                      "llm": scripted("numeric_optimizer")}),
        ("list_runs", {"store": str(store)}),
        ("show_run", {"run": "/no/such/run"}),
        ("show_run", {}),
        ("no_such_tool", {}),
    ]
    listed, results = anyio.run(_session_calls, calls)
    names = {t.name for t in listed}
    assert {"list_tasks", "validate_task", "run_task", "list_runs", "show_run"} <= names
    run_tool = next(t for t in listed if t.name == "run_task")
    assert run_tool.input_schema["required"] == ["path"]
    assert run_tool.input_schema["properties"]["steps"]["anyOf"][0]["minimum"] == 1

    valid, ran, runs, missing, no_args, unknown = results
    assert not valid.is_error and json.loads(valid.content[0].text)["valid"] is True
    run = json.loads(ran.content[0].text)
    assert not ran.is_error and run["best_parameters"] == {"x": 5.0}
    assert Path(run["run"]).parent == store
    assert json.loads(runs.content[0].text)[0]["best_score"] == 90.0
    assert missing.is_error and "no such run folder" in missing.content[0].text
    assert no_args.is_error and "argument run" in no_args.content[0].text
    assert unknown.is_error and "unknown tool" in unknown.content[0].text


async def _list_all_tools() -> list[Any]:
    params = StdioServerParameters(command=sys.executable, args=["-m", "optograph", "mcp"],
                                   cwd=str(REPO))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            return (await session.list_tools()).tools


def test_mcp_offers_the_diffusion_tools_with_the_extra() -> None:
    import pytest

    pytest.importorskip("torch", reason="the diffusion tools need the diffusion extra")
    tools = {t.name: t for t in anyio.run(_list_all_tools)}
    evaluate = tools["evaluate_diffusion_schedule"]
    assert evaluate.input_schema["required"] == ["timesteps"]
    assert "search_diffusion_schedule" in tools
