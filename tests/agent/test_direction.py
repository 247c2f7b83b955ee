"""A score has no direction of its own. optimize_langgraph once minimized by default: with an
accuracy judge a run scored 0.0 -> 1.0 and returned the worst prompt. Now the direction is
said (minimize=/maximize=, the feedback's declared kind, or the optimizer's own), and a
numeric score with nothing saying which way is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from scripted_chat import ScriptedChat
from test_langgraph_opt import BY_QUESTION, GOOD_PROMPT, QUESTIONS, graph_reply, suggestion

import optograph as og
from optograph.agent import OptimizerError, OptoPrime, optimize_langgraph
from optograph.agent.loop import optimize
from optograph.tasks.examples import langgraph_qa as qa


def _accuracy_run(**direction: Any) -> tuple[Any, dict[str, og.Node]]:
    params = qa.default_parameters()
    result = optimize_langgraph(
        qa.build_graph(ScriptedChat(graph_reply)), params,
        inputs=[{"question": q["question"]} for q in QUESTIONS[:4]],
        feedback=lambda state, graph_input: qa.feedback(state, BY_QUESTION[graph_input["question"]]),
        llm=ScriptedChat([suggestion({"answer_prompt": GOOD_PROMPT})] * 3), steps=1, **direction,
    )
    return result, params


def test_an_accuracy_judge_without_a_direction_is_refused() -> None:
    with pytest.raises(OptimizerError, match=r"minimize=True .*maximize=True"):
        _accuracy_run()


def test_maximize_keeps_the_best_prompt() -> None:
    result, params = _accuracy_run(maximize=True)
    assert [h["score"] for h in result.history] == [0.0, 1.0]
    assert result.best_score == 1.0 and params["answer_prompt"].data == GOOD_PROMPT


REPLY = json.dumps({"reasoning": "r", "answer": "", "suggestion": {"x": 5.0}})


def _loss_run(feedback: Any, declared: bool | None = None, **options: Any) -> Any:
    with og.Run():
        x = og.node(3.0, trainable=True, name="x")
    opt = OptoPrime([x], llm=ScriptedChat([REPLY]), minimize=declared)
    return optimize(lambda: x * 2, feedback, opt, steps=1, **options)


def test_the_direction_can_come_from_the_feedback_or_the_optimizer() -> None:
    def accuracy(output: og.Node) -> float:
        return float(output.data)

    accuracy.maximize = True  # type: ignore[attr-defined]  # the feedback's declared kind
    assert _loss_run(accuracy).best_score == 10.0
    assert _loss_run(lambda y: y.data, declared=True).best_score == 6.0


def test_text_feedback_needs_no_direction_and_contradictions_are_refused() -> None:
    result = _loss_run(lambda y: "make it smaller")
    assert result.best_score is None and result.steps == 1
    with pytest.raises(OptimizerError, match="built with minimize=True"):
        _loss_run(lambda y: y.data, declared=True, maximize=True)
    with pytest.raises(OptimizerError, match="disagree"):
        _loss_run(lambda y: y.data, minimize=True, maximize=True)


def test_every_run_says_its_direction_at_the_start(capsys: pytest.CaptureFixture[str]) -> None:
    _loss_run(lambda y: y.data, maximize=True, target=50)
    assert "optimize: score (higher is better, target 50" in capsys.readouterr().err
