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
