"""A held-out validation split: the optimizer learns from the minibatch's feedback, the best
values are the ones that score best on the validation examples (Trace and DSPy users expect a
train/validation split), and the history keeps both scores."""

from __future__ import annotations

import json

import pytest
from scripted_chat import ScriptedChat, last_human

import optograph as og
from optograph.agent import OptimizerError, OptoPrime
from optograph.agent.loop import optimize


def _suggest(x: float) -> str:
    return json.dumps({"reasoning": "r", "answer": "", "suggestion": {"x": x}})


def _run(validation: list[float] | None) -> tuple[object, og.Node, ScriptedChat]:
    with og.Run():
        x = og.node(0.0, trainable=True, name="x")
    model = ScriptedChat([_suggest(10.0), _suggest(5.0)])
    result = optimize(lambda target: x + 0.0, lambda out, target: abs(out.data - target),
                      OptoPrime([x], llm=model), examples=[10.0], validation=validation,
                      steps=2, minimize=True)
    return result, x, model


def test_the_best_values_are_chosen_on_the_validation_split() -> None:
    trained, x, _ = _run(None)
    assert trained.best_values == {"x": 10.0}  # best on the training example
    held_out, x, model = _run([4.0])
    assert [h["train_score"] for h in held_out.history] == [10.0, 0.0, 5.0]
    assert [h["score"] for h in held_out.history] == [4.0, 6.0, 1.0]
    assert held_out.best_values == {"x": 5.0} and x.data == 5.0
    # the optimizer only ever saw the training feedback
    assert all("4.0" not in last_human(call) for call in model.calls)


def test_validation_needs_examples() -> None:
    with og.Run():
        x = og.node(0.0, trainable=True, name="x")
    with pytest.raises(OptimizerError, match="validation needs examples"):
        optimize(lambda: x, lambda out: 1.0, OptoPrime([x], llm=ScriptedChat([])),
                 validation=[1.0], minimize=True)
