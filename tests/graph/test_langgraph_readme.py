"""README's LangGraph example runs as written (with a scripted optimizer model)."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypedDict

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langgraph.graph import START, StateGraph
from langgraph.runtime import Runtime

import optograph as og

README = Path(__file__).resolve().parents[2] / "README.md"


class QA(TypedDict, total=False):
    question: str
    answer: str


def answer(state: QA, runtime: Runtime[dict]) -> dict[str, Any]:
    return {"answer": f"{runtime.context['answer_prompt']}: {state['question']}"}


def test_readme_langgraph_snippet_runs() -> None:
    text = README.read_text()
    block = re.search(r"### LangGraph workflows\s+```python\n(.*?)```", text, re.S)
    assert block is not None, "README has no LangGraph example"
    builder = StateGraph(QA)
    builder.add_node("answer", answer)
    builder.add_edge(START, "answer")
    prompt_node = og.node("Answer briefly", trainable=True, name="answer_prompt")

    reply = json.dumps({"reasoning": "-", "suggestion": {"answer_prompt": "Answer in 1 word"}})
    optimizer_llm = FakeListChatModel(responses=[reply] * 20)
    namespace: dict[str, Any] = {
        "og": SimpleNamespace(
            trace_langgraph=og.trace_langgraph,
            optimize_langgraph=functools.partial(
                og.optimize_langgraph, llm=optimizer_llm, minimize=False
            ),
        ),
        "builder": builder,
        "prompt_node": prompt_node,
        "questions": [{"question": "capital of France?"}],
        "judge": lambda state: (float("1 word" in state["answer"]), "say it in one word"),
    }
    exec(compile(block.group(1), str(README), "exec"), namespace)  # noqa: S102
    record = namespace["record"]
    assert record is not None and record.executed == ["answer"]
    assert namespace["state"]["answer"] == "Answer briefly: ..."
    assert namespace["result"].best_values["answer_prompt"] == "Answer in 1 word"
