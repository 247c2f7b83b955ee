"""The candidates of a step (best-of-n in OptoPrime and OPRO) are evaluated through the executor:
max_concurrency at once, each reading its own values (graph.run.parameter_values) in a graph of
its own, scored in the proposals' order, so the result and the calls to the model are the same
at any concurrency, and the step's own feedback on the shared parameters is kept whole."""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any

import pytest
from scripted_chat import ScriptedChat, last_human

import optograph as og
from optograph.agent import OPRO, OptoPrime
from optograph.agent.executor import Executor
from optograph.agent.loop import optimize


def reply(value: float) -> str:
    return json.dumps({"reasoning": "r", "answer": "", "suggestion": {"x": value}})


def test_n_candidates_are_evaluated_at_once_each_with_its_own_value() -> None:
    with og.Run():
        x = og.node(0.0, trainable=True, name="x")
    together = threading.Barrier(3, timeout=30)  # passes only when all three run at once
    outputs: list[og.Node] = []

    def evaluate() -> float:
        together.wait()
        y = (x - 7) * (x - 7)
        y.backward("side effect that must not stay")
        outputs.append(y)
        return y.data

    model = ScriptedChat([reply(3), reply(6), reply(20)])
    opt = OptoPrime([x], llm=model, candidates=3, evaluate=evaluate, executor=Executor(3))
    y = (x - 7) * (x - 7)
    y.backward("make it 0")
    assert opt.step() == {x: 6.0}
    assert opt.log[-1]["candidate_scores"] == [16.0, 1.0, 169.0]
    assert [item.text() for item in x.feedback] == ["make it 0"]
    # each candidate's graph is its own, computed on its value, and leads to the shared x
    assert sorted(y.data for y in outputs) == [1.0, 16.0, 169.0]
    assert all(y.parameters() == [x] for y in outputs) and len({id(y) for y in outputs}) == 3


@pytest.mark.parametrize("kind", [OptoPrime, OPRO])
def test_the_chosen_candidate_and_the_calls_do_not_depend_on_the_concurrency(kind: Any) -> None:
    def once(concurrency: int) -> tuple[Any, ...]:
        with og.Run():
            x = og.node(0.0, trainable=True, name="x")

        def evaluate() -> float:
            time.sleep(random.random() * 0.02)  # scrambles the finishing order
            return float(((x - 7) * (x - 7)).data)

        model = ScriptedChat([reply(v) for v in (3, 9, 6, 5)])
        opt = kind([x], llm=model, candidates=4, evaluate=evaluate,
                   executor=Executor(concurrency))
        with og.Run():
            (x * 1).backward({"score": 49.0, "feedback": "lower"})
            chosen = opt.step()
        return ({p.name: v for p, v in chosen.items()}, opt.log[-1]["candidate_scores"],
                [[m.content for m in call] for call in model.calls])

    first, *others = [once(c) for c in (1, 4, 2)]
    assert first[0] == {"x": 6.0} and first[1] == [16.0, 4.0, 1.0, 4.0]
    assert all(other == first for other in others)


@pytest.mark.parametrize("kind", [OptoPrime, OPRO])
def test_the_loop_evaluates_a_steps_candidates_at_max_concurrency(kind: Any) -> None:
    with og.Run():
        x = og.node(0.0, trainable=True, name="x")
    together = threading.Barrier(3, timeout=30)
    waited: set[float] = set()
    lock = threading.Lock()

    @og.bundle()
    def loss(v: float) -> float:
        with lock:
            first = v in (3.0, 6.0, 20.0) and v not in waited
            waited.add(v)
        if first:  # each candidate waits for the two others once: they run at once
            together.wait()
        return (v - 7) ** 2

    model = ScriptedChat([reply(v) for v in (3, 6, 20)])
    result = optimize(lambda: loss(x), lambda y: y.data, kind([x], llm=model, candidates=3),
                      steps=1, max_concurrency=3, minimize=True)
    assert [entry["values"]["x"] for entry in result.history] == [0.0, 6.0]
    assert x.data == 6.0


def test_with_examples_the_result_and_the_steps_feedback_do_not_depend_on_the_concurrency(
) -> None:
    def once(concurrency: int) -> tuple[Any, ...]:
        with og.Run():
            x = og.node(1.0, trainable=True, name="x")

        @og.bundle()
        def scaled(a: float, k: int) -> float:
            time.sleep(random.random() * 0.01)
            return a * k

        model = ScriptedChat([reply(v) for v in (2, 0.5, 3, 0.25)])
        result = optimize(lambda k: scaled(x, k), lambda out, k: (float(out.data), f"{k}: {out.data}"),
                          OptoPrime([x], llm=model, candidates=2), examples=[1, 2, 3, 4],
                          steps=2, max_concurrency=concurrency, minimize=True)
        feedback = sorted(item.text() for item in x.feedback)  # the last step's four outputs
        return result.history, feedback, [last_human(call) for call in model.calls]

    first, *others = [once(c) for c in (1, 4)]
    history, feedback, _ = first
    assert [entry["values"]["x"] for entry in history] == [1.0, 0.5, 0.25]
    assert len(feedback) == 4
    assert all(other == first for other in others)


def test_the_loop_lends_its_evaluation_to_the_optimizer_for_one_run_only() -> None:
    with og.Run():
        x = og.node(0.0, trainable=True, name="x")
    opt = OptoPrime([x], llm=ScriptedChat([reply(v) for v in (3, 6, 3, 6)]), candidates=2)
    near = optimize(lambda: (x - 7) * (x - 7), lambda y: y.data, opt, steps=1, minimize=True,
                    restore_best=False)
    assert opt.evaluate is None and opt.executor is None
    x.set(0.0)
    far = optimize(lambda: (x - 2) * (x - 2), lambda y: y.data, opt, steps=1, minimize=True,
                   restore_best=False)  # its own workflow scores the candidates now
    assert [near.history[-1]["values"]["x"], far.history[-1]["values"]["x"]] == [6.0, 3.0]


def test_langgraph_candidates_are_scored_on_the_steps_own_inputs() -> None:
    """optimize_langgraph's workflow takes the next inputs on each call; a candidate (run in
    a parameter_values block) must re-run the step's inputs, not take the next ones."""
    from typing import TypedDict

    from langgraph.graph import END, START, StateGraph
    from langgraph.runtime import Runtime

    from optograph.agent import optimize_langgraph

    class State(TypedDict):
        k: int
        out: float

    seen: list[tuple[int, float]] = []

    def scale(state: State, runtime: Runtime) -> dict[str, float]:
        seen.append((state["k"], runtime.context["x"]))
        return {"out": runtime.context["x"] * state["k"]}

    graph = StateGraph(State)
    graph.add_node("scale", scale)
    graph.add_edge(START, "scale")
    graph.add_edge("scale", END)
    optimize_langgraph(graph, {"x": 1.0}, inputs=[{"k": k} for k in (1, 2, 3, 4)], batch_size=1,
                       feedback=lambda state: float(state["out"]),
                       llm=ScriptedChat([reply(0.5), reply(2.0)]),
                       optimizer_options={"candidates": 2}, steps=1, minimize=True)
    assert seen == [(1, 1.0), (1, 0.5), (1, 2.0), (2, 0.5)]
