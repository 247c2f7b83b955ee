"""optimize_langgraph on a graph with async nodes, Send branches and a subgraph, with
scripted chat models: the graph runs through `atrace`, the batch goes through the executor in
input order, only the intended prompt changes, and the optimizer sees the Send branches and
the subgraph step that produced the scored output."""

from __future__ import annotations

import json
import operator
from typing import Annotated, Any, TypedDict

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send
from scripted_chat import ScriptedChat, last_human

import optograph as og
from optograph.agent import optimize_langgraph
from optograph.agent.executor import Executor


class State(TypedDict):
    topic: str
    subjects: list[str]
    drafts: Annotated[list[str], operator.add]
    answer: str


class Summary(TypedDict):
    drafts: list[str]
    answer: str
    joined: str  # private to the subgraph


def drafter_reply(messages: list[Any]) -> str:
    subject = last_human(messages)
    return subject.upper() if "SHOUT" in str(messages[0].content) else subject


def build(model: ScriptedChat) -> StateGraph:
    async def plan(state: State, runtime: Runtime[dict]) -> dict[str, Any]:
        assert runtime.context["plan_prompt"]
        return {"subjects": [f"{state['topic']} {i}" for i in range(3)]}

    def fan_out(state: State) -> list[Send]:
        return [Send("draft", {"subject": s}) for s in state["subjects"]]

    async def draft(state: dict[str, Any], runtime: Runtime[dict]) -> dict[str, Any]:
        prompt = runtime.context["draft_prompt"]
        reply = await model.ainvoke([SystemMessage(prompt), HumanMessage(state["subject"])])
        return {"drafts": [str(reply.content)]}

    def join(state: Summary) -> dict[str, Any]:
        return {"joined": " | ".join(sorted(state["drafts"]))}

    def finish(state: Summary) -> dict[str, Any]:
        return {"answer": f"summary: {state['joined']}"}

    child = StateGraph(Summary)
    child.add_node("join", join)
    child.add_node("finish", finish)
    child.add_edge(START, "join")
    child.add_edge("join", "finish")
    b = StateGraph(State)
    b.add_node("plan", plan)
    b.add_node("draft", draft)
    b.add_node("summarize", child.compile())
    b.add_edge(START, "plan")
    b.add_conditional_edges("plan", fan_out, ["draft"])
    b.add_edge("draft", "summarize")
    b.add_edge("summarize", END)
    return b


def score(state: dict[str, Any]) -> tuple[float, str]:
    drafts = state["drafts"]
    loud = sum(d.isupper() for d in drafts)
    return loud / len(drafts), f"{loud} of {len(drafts)} drafts are upper case; all must be"


def test_async_graph_with_sends_and_subgraph_is_optimized_through_the_executor() -> None:
    params = {
        "plan_prompt": og.node("plan three subjects", trainable=True, name="plan_prompt"),
        "draft_prompt": og.node("write the subject", trainable=True, name="draft_prompt"),
    }
    optimizer_llm = ScriptedChat([json.dumps({
        "reasoning": "drafts must be upper case",
        "suggestion": {"draft_prompt": "SHOUT the subject"},
    })])
    model = ScriptedChat(drafter_reply)
    result = optimize_langgraph(
        build(model),
        params,
        inputs=[{"topic": "cats"}, {"topic": "dogs"}],
        feedback=score,
        llm=optimizer_llm,
        steps=1,
        minimize=False,
        max_concurrency=2,
        executor=Executor(2),
        trace_options={"check_usage": False},
    )
    assert params["draft_prompt"].data == "SHOUT the subject"
    assert params["plan_prompt"].data == "plan three subjects"
    assert [h["score"] for h in result.history] == [0.0, 1.0]
    prompt = "\n".join(str(m.content) for m in optimizer_llm.calls[0])
    # the Send branches: each payload, and the subgraph step that produced the answer
    for topic in ("cats", "dogs"):
        for i in range(3):
            assert f"{topic} {i}" in prompt
    assert "draft_send" in prompt and "summarize" in prompt
    assert "join" in prompt and "finish" in prompt  # the subgraph's own steps
    # the batch's runs: inputs in order in the feedback
    assert prompt.index("input {'topic': 'cats'}") < prompt.index("input {'topic': 'dogs'}")
