"""The changed code of a sync LangGraph node runs in the sandbox: its state goes in as JSON and
its Runtime as a read-only view, so parameters read through runtime.context still work."""

from __future__ import annotations

import pytest
from sandbox_helpers import MODES
from test_langgraph_trace import params, straight_builder

import optograph as og

pytestmark = pytest.mark.filterwarnings("ignore::optograph.graph.sandbox.WeakSandboxWarning")


@pytest.mark.parametrize("mode", MODES)
def test_node_code_runs_in_the_sandbox_with_the_runtime_context(mode):
    traced = og.trace_langgraph(
        straight_builder(), params(prefix="a", suffix="b"), code=["add_suffix"],
        code_sandbox=mode,
    )
    code = traced.code_parameters["add_suffix"]
    code.set(
        "import os\n"
        "def add_suffix(state, runtime):\n"
        "    return {'text': runtime.context.suffix * 2 + str(os.getpid() > 0)}\n"
    )
    record = traced.trace({"text": "x"})
    assert record.value["text"] == "bbTrue"
    code.set("def add_suffix(state, runtime):\n    return {'text': 1 / 0}\n")
    with pytest.raises(og.ExecutionError) as info:
        traced.trace({"text": "x"})
    assert "1 / 0}  <-- error here" in info.value.exception_node.info["source"]


@pytest.mark.parametrize("mode", MODES)
def test_an_async_node_is_sandboxed_too(mode):
    import asyncio

    from langgraph.graph import END, START, StateGraph
    from test_langgraph_trace import Ctx, State

    async def shout(state: State) -> dict:
        return {"text": state["text"].upper()}

    builder = StateGraph(State, context_schema=Ctx)
    builder.add_node("shout", shout)
    builder.add_edge(START, "shout")
    builder.add_edge("shout", END)
    traced = og.trace_langgraph(builder, code=["shout"], code_sandbox=mode)
    traced.code_parameters["shout"].set(
        "import os\nasync def shout(state):\n    return {'text': state['text'] + str(os.getpid())}\n"
    )
    import os

    record = asyncio.run(traced.atrace({"text": "x"}))
    assert record.value["text"].startswith("x") and record.value["text"] != f"x{os.getpid()}"
