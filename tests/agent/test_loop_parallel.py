"""The loop evaluates a minibatch through the executor: examples run at once (max_concurrency),
each example's graph is its own, every example's feedback reaches the shared parameters, and
the result (scores, the optimizer's prompt) does not depend on the concurrency."""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any

import pytest
from scripted_chat import ScriptedChat, last_human

import optograph as og
from optograph.agent import OptoPrime
from optograph.agent.executor import ExecutorError
from optograph.agent.loop import optimize

REPLY = json.dumps({"reasoning": "r", "answer": "", "suggestion": {"x": 2.0}})


def _run(examples: list[int], concurrency: int, op: Any) -> tuple[Any, og.Node, ScriptedChat]:
    with og.Run():
        x = og.node(1.0, trainable=True, name="x")
    model = ScriptedChat([REPLY])
    result = optimize(
        lambda k: op(x, k), lambda out, k: (float(out.data), f"example {k} gave {out.data}"),
        OptoPrime([x], llm=model), examples=examples, max_concurrency=concurrency, steps=1,
        minimize=True,
    )
    return result, x, model


def test_sixteen_concurrent_evaluations_all_give_feedback_to_the_parameter() -> None:
    together = threading.Barrier(16, timeout=30)  # passes only when all 16 run at once

    @og.bundle()
    def scaled(a: float, k: int) -> float:
        together.wait()
        return a * k

    result, x, model = _run(list(range(16)), 16, scaled)
    assert len(x.feedback) == 16  # the last step's 16 outputs, none lost
    assert {item.output.name for item in x.feedback} == {"scaled"} | {
        f"scaled:{k}" for k in range(1, 16)}
    prompt = last_human(model.calls[0])
    assert all(f"example {k} gave {float(k)}" in prompt for k in range(16))
    assert result.scores == [7.5, 15.0]  # the mean of each step's examples


def test_the_result_does_not_depend_on_the_concurrency() -> None:
    @og.bundle()
    def jittered(a: float, k: int) -> float:
        time.sleep(random.random() * 0.02)  # scrambles the finishing order
        return a * k + 1

    runs = [_run(list(range(8)), concurrency, jittered) for concurrency in (1, 8, 3)]
    prompts = {last_human(model.calls[0]) for _, _, model in runs}
    assert len(prompts) == 1  # the optimizer saw the same graph, names and feedback
    assert len({json.dumps(result.history) for result, _, _ in runs}) == 1


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_max_concurrency_must_be_a_positive_whole_number(bad: Any) -> None:
    with pytest.raises(ExecutorError, match=r"^max_concurrency: expected a whole number >= 1"):
        _run([1, 2], bad, lambda a, k: a * k)


@pytest.mark.parametrize("concurrency", [1, 3])
def test_a_spent_budget_stops_admitting_examples(concurrency: int) -> None:
    from optograph.agent.llm import LLM

    with og.Run():
        x = og.node("prompt", trainable=True, name="x")
    optimizer = OptoPrime([x], llm=ScriptedChat([]))
    asker = LLM(ScriptedChat(lambda messages: "an answer " * 20), role="workflow",
                usage=optimizer.llm.usage)
    started: list[int] = []

    @og.bundle()
    def ask(prompt: str, k: int) -> str:
        started.append(k)
        return str(asker.invoke(f"{prompt} {k}").content)

    events: list[dict[str, Any]] = []
    result = optimize(lambda k: ask(x, k), lambda out, k: (1.0, "ok"), optimizer,
                      examples=list(range(9)), max_concurrency=concurrency, steps=3,
                      max_tokens=1, minimize=False, on_event=events.append)
    # the first example always runs; the budget is spent by it, so at most the examples
    # already running beside it (max_concurrency - 1) overshoot
    assert 1 <= len(started) <= concurrency
    assert result.stop_reason is not None and result.stop_reason.startswith("token budget 1")
    not_run = [e for e in events if e["event"] == "not_run"]
    assert not_run and not_run[0]["count"] == 9 - len(started)
