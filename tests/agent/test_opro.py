"""OPRO: a bounded history of (values, score), best last, shown to the model."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from scripted_chat import ScriptedChat, last_human

import optograph as og
from optograph.agent import OPRO, OptimizerError, optimize


def suggest(x: float) -> str:
    return json.dumps({"reasoning": "r", "answer": "", "suggestion": {"x": x}})


def history_lines(prompt: str) -> list[str]:
    block = prompt.split("#History")[1].split("\n\n")[0]
    return block.splitlines()[1:]


def test_history_is_sorted_best_last_and_bounded() -> None:
    x = og.node(0.0, trainable=True, name="x", constraint="-20 <= x <= 20")
    model = ScriptedChat([suggest(v) for v in (10, 3, 9, 6, 7)])
    opt = OPRO([x], llm=model, history_size=3)
    for _ in range(5):
        y = (x - 7) * (x - 7)
        opt.zero_feedback()
        y.backward(y.data)
        opt.step()
    prompt = last_human(model.calls[4])
    assert history_lines(prompt) == [
        '{"x": 10.0} -> score 9', '{"x": 9.0} -> score 4', '{"x": 6.0} -> score 1',
    ]
    assert "(float) x = 6.0    # -20 <= x <= 20" in prompt and "lower is better" in prompt
    assert opt.best == ({"x": 6.0}, 1.0) and len(opt.history) == 3


def test_maximizing_puts_the_highest_score_last() -> None:
    x = og.node(1.0, trainable=True, name="x")
    opt = OPRO([x], llm=ScriptedChat([]), minimize=False)
    for value, score in ((1.0, 5.0), (2.0, 9.0), (3.0, 1.0)):
        opt.record({"x": value}, score)
    assert [score for _, score in opt.history] == [1.0, 5.0, 9.0]
    assert "higher is better" in opt.messages()[1].content


def test_needs_a_score_and_keeps_state() -> None:
    x = og.node(1.0, trainable=True, name="x")
    opt = OPRO([x], llm=ScriptedChat([suggest(2)]))
    x.backward("too small")
    with pytest.raises(OptimizerError, match="the feedback has no score"):
        opt.step()
    opt.zero_feedback()
    x.backward({"score": 3, "note": "too small"})
    opt.step()
    twin = OPRO([x], llm=ScriptedChat([]))
    twin.load_state_dict(json.loads(json.dumps(opt.state_dict())))
    assert twin.history == opt.history == [({"x": 1.0}, 3.0)]


def test_opro_in_the_loop_reaches_the_target() -> None:
    x = og.node(0.0, trainable=True, name="x")

    def bisect(messages: list[Any]) -> str:
        pairs = re.findall(r'\{"x": (\S+)\} -> score (\S+)', last_human(messages))
        best = float(pairs[-1][0])
        return suggest(best + 2)

    result = optimize(lambda: (x - 6) * (x - 6), lambda y: y.data,
                      OPRO([x], llm=ScriptedChat(bisect)), steps=10, target=0, minimize=True)
    assert result.stop_reason == "target 0 reached (score 0)" and x.data == 6.0
