"""optimize_langgraph and the LangGraph QA example, driven by scripted chat models: the graph's
model answers well only under a good answer prompt, the optimizer's model suggests one."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from scripted_chat import ScriptedChat, last_human

import optograph as og
from optograph.agent import OptimizerError, OptoPrime, optimize_langgraph
from optograph.graph.langgraph import trace_langgraph
from optograph.tasks.examples import langgraph_qa as qa

QUESTIONS = qa.load_questions()
BY_QUESTION = {q["question"]: q for q in QUESTIONS}
GOOD_PROMPT = "Reply with ONLY the answer: a single word or number."


def graph_reply(messages: list[BaseMessage]) -> str:
    """The workflow's model: right answers only under a prompt that asks for the answer only;
    the check accepts an answer unless it is the vague one."""
    first = messages[0]
    if first.type == "human" and "Proposed answer" in str(first.content):
        return "no" if "not sure" in str(first.content) else "yes"
    system = str(first.content)
    question = (
        last_human(messages)
        if "judged wrong" not in last_human(messages)
        else str(messages[1].content)
    )
    example = BY_QUESTION[question]
    if "category name only" in system:
        return example["category"]
    if "ONLY the answer" in system:
        return example["answer"]
    return "I am not sure, it could be many things."


def suggestion(values: dict[str, Any]) -> str:
    return json.dumps(
        {
            "reasoning": "the answers are vague; ask for the answer only",
            "answer": "",
            "suggestion": values,
        }
    )


def test_example_workflow_and_feedback_as_a_task_runner_calls_them():
    params = qa.default_parameters()
    example = QUESTIONS[0]
    model = ScriptedChat(graph_reply)
    output = qa.workflow(**params, example=example, llm=model)
    state = output.data
    assert len(model.calls) == 5 and all(k.get("max_tokens") == 48 for k in model.call_kwargs)
    assert state["category"] == "geography"
    assert state["verdict"] == "retry" and state["attempts"] == 2  # retried once, then gave up
    score, text = qa.feedback(state, example)
    assert score == 0.0 and "expected 'Paris'" in text
    params["answer_prompt"].set(GOOD_PROMPT)
    state = qa.workflow(**params, example=example, llm=ScriptedChat(graph_reply)).data
    assert state["answer"] == "Paris" and state["attempts"] == 1
    assert qa.feedback(state, example) == (1.0, "Correct (1 attempt(s)).")


def test_example_records_the_loop_and_each_chat_call():
    params = qa.default_parameters()
    traced = trace_langgraph(qa.build_graph(ScriptedChat(graph_reply)), params)
    record = traced.trace({"question": QUESTIONS[5]["question"]})
    assert record.executed == ["classify", "answer", "check", "answer", "check"]
    answer_steps = [s for s in record.steps if s.node == "answer"]
    assert all(s.parameters_read == ["answer_prompt"] for s in answer_steps)
    assert all(len(s.chats) == 1 for s in record.steps)
    retry_messages = answer_steps[1].chats[0].constants["messages"]
    assert any("judged wrong" in m for m in retry_messages)
    assert [(e.source, e.target) for e in record.edges].count(("check", "answer")) == 1
    assert record.parameters_read()["route_check"] == ["max_retries"]


def test_optoprime_changes_the_intended_prompt_and_nothing_else():
    params = qa.default_parameters()
    before = {name: node.data for name, node in params.items()}
    optimizer_llm = ScriptedChat([suggestion({"answer_prompt": GOOD_PROMPT})])
    events: list[dict[str, Any]] = []
    result = optimize_langgraph(
        qa.build_graph(ScriptedChat(graph_reply)),
        params,
        inputs=[{"question": q["question"]} for q in QUESTIONS[:4]],
        feedback=lambda state, graph_input: qa.feedback(
            state, BY_QUESTION[graph_input["question"]]
        ),
        llm=optimizer_llm,
        steps=1,
        minimize=False,
        on_event=events.append,
    )
    assert params["answer_prompt"].data == GOOD_PROMPT
    for name in ("classify_prompt", "check_prompt", "max_retries"):
        assert params[name].data == before[name]
    scores = [h["score"] for h in result.history]
    assert scores == [0.0, 1.0]
    assert result.best_values["answer_prompt"] == GOOD_PROMPT
    # the optimizer saw the graph: which prompt produced which reply, and every run's feedback
    prompt_text = "\n".join(str(m.content) for m in optimizer_llm.calls[0])
    assert "chat_model(" in prompt_text and "answer_prompt" in prompt_text
    assert "I am not sure" in prompt_text
    assert "expected 'Tokyo'" in prompt_text
    assert any(e["event"] == "applied" for e in events)


def test_traced_graph_can_be_passed_with_an_optimizer_instance():
    params = qa.default_parameters()
    traced = trace_langgraph(qa.build_graph(ScriptedChat(graph_reply)), params)
    optimizer = OptoPrime(
        [params["answer_prompt"]], ScriptedChat([suggestion({"answer_prompt": GOOD_PROMPT})])
    )
    result = optimize_langgraph(
        traced,
        inputs=[{"question": QUESTIONS[1]["question"]}],
        feedback=lambda state, graph_input: qa.feedback(state, QUESTIONS[1]),
        optimizer=optimizer,
        steps=1,
        minimize=False,
    )
    assert result.history[-1]["score"] == 1.0
    with pytest.raises(OptimizerError, match="already traced"):
        optimize_langgraph(traced, params, inputs=[{}], feedback=lambda s: "x")


def test_bad_arguments_are_one_line_errors():
    builder = qa.build_graph(ScriptedChat(graph_reply))
    with pytest.raises(OptimizerError, match="optimizer='sgd'"):
        optimize_langgraph(
            builder,
            qa.default_parameters(),
            inputs=[{"question": "q"}],
            feedback=lambda s: "x",
            optimizer="sgd",
        )
    with pytest.raises(OptimizerError, match="inputs is empty"):
        optimize_langgraph(
            builder,
            qa.default_parameters(),
            inputs=[],
            feedback=lambda s: "x",
            llm=ScriptedChat([]),
        )
    with pytest.raises(
        og.GraphError, match="parameter 'tone' is not a field of the context schema QAContext"
    ):
        optimize_langgraph(
            builder, {"tone": "calm"}, inputs=[{"question": "q"}], feedback=lambda s: "x"
        )
