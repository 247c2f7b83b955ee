"""OptoPrime driven offline by scripted chat models: the prompt, replies, validation, retries,
memory, state and best-of-n."""

from __future__ import annotations

import json
from typing import Any

import pytest
from scripted_chat import ScriptedChat, last_human

import optograph as og
from optograph.agent import LLM, LLMCallError, OptimizerError, OptoPrime

EXPECTED_PROMPT = """#Instruction
Change the values of the variables in #Variables so that the outputs improve as #Feedback asks.

#Code
scale = scale(v=x, k=a)
shift = shift(v=scale, offsets=b)

#Documentation
scale: Multiply v by k.
shift: Add the sum of offsets to v.

#Variables
(float) a = 2.0
(list) b = [1, 2]

#Constraints
(float) a: 0 <= a <= 10; the slope

#Inputs
(int) x = 3

#Others
(float) scale = 6.0

#Outputs
(float) shift = 9.0

#Feedback
y should be 20

Your reply (one JSON object):"""


@og.bundle()
def scale(v: float, k: float) -> float:
    """Multiply v by k."""
    return v * k


@og.bundle()
def shift(v: float, offsets: list[int]) -> float:
    """Add the sum of offsets to v."""
    return v + sum(offsets)


def known_graph() -> tuple[og.Node, og.Node]:
    a = og.node(2.0, trainable=True, name="a", description="the slope", constraint="0 <= a <= 10")
    b = og.node([1, 2], trainable=True, name="b")
    x = og.node(3, name="x")
    y = shift(scale(x, a), b)
    y.backward("y should be 20")
    return a, b


def reply(suggestion: dict[str, Any], answer: str = "", reasoning: str = "because") -> str:
    return json.dumps({"reasoning": reasoning, "answer": answer, "suggestion": suggestion})


def test_prompt_snapshot_for_a_known_graph() -> None:
    a, b = known_graph()
    model = ScriptedChat([reply({"a": 5, "b": "[4, 5]"})])
    opt = OptoPrime([a, b], llm=model)
    updates = opt.step()
    system, user = model.calls[0]
    assert user.content == EXPECTED_PROMPT
    assert "#Constraints" in system.content and '"suggestion"' in system.content
    assert updates == {a: 5.0, b: [4, 5]}
    assert type(a.data) is float and b.data == [4, 5]


def test_the_reply_json_schema_is_passed_to_the_model() -> None:
    a, b = known_graph()
    model = ScriptedChat([reply({"a": 3})])
    OptoPrime([a, b], llm=model).step()
    schema = model.call_kwargs[0]["json_schema"]
    assert schema["required"] == ["reasoning", "answer", "suggestion"]
    assert schema["properties"]["suggestion"]["properties"] == {
        "a": {"type": "number"}, "b": {"type": "array"},
    }


def test_a_custom_objective_is_the_instruction() -> None:
    a, b = known_graph()
    model = ScriptedChat([reply({"a": 3})])
    OptoPrime([a, b], llm=model, objective="Make y exactly 20.").step()
    assert last_human(model.calls[0]).startswith("#Instruction\nMake y exactly 20.\n")


def test_terminate_as_answer_changes_nothing_but_in_reasoning_it_does_not_stop() -> None:
    a, b = known_graph()
    opt = OptoPrime([a, b], llm=ScriptedChat([
        reply({"a": 4}, reasoning="no reason to TERMINATE"),
        reply({}, answer="TERMINATE"),
    ]))
    assert opt.step() == {a: 4.0} and not opt.terminated
    assert opt.step() == {} and opt.terminated and a.data == 4.0


def test_retry_shows_the_exact_error_then_succeeds() -> None:
    a, b = known_graph()
    model = ScriptedChat([
        reply({"a": 12}),
        "I would set a to 8.",
        reply({"a": 8, "b": [3]}),
    ])
    opt = OptoPrime([a, b], llm=model, max_retries=2)
    assert opt.step() == {a: 8.0, b: [3]}
    assert last_human(model.calls[1]) == (
        "That reply could not be used: a: 12.0 violates the constraint '0 <= a <= 10'\n"
        "Reply again with one JSON object in the required format."
    )
    assert "contains no JSON object" in last_human(model.calls[2])
    assert [entry["error"] is None for entry in opt.log] == [False, False, True]
    assert opt.log[2]["reply"] == reply({"a": 8, "b": [3]})
    assert opt.log[0]["messages"][1]["content"] == EXPECTED_PROMPT


def test_retry_then_failure_leaves_every_parameter_unchanged() -> None:
    a, b = known_graph()
    bad = reply({"a": 5, "b": "not a list"})  # a is fine, b is not: nothing is applied
    opt = OptoPrime([a, b], llm=ScriptedChat([bad, bad]), max_retries=1)
    with pytest.raises(OptimizerError) as info:
        opt.step()
    assert str(info.value) == (
        "OptoPrime: no usable reply from scripted after 2 attempt(s); parameters unchanged; "
        "last error: b: expected a list; got str 'not a list'"
    )
    assert (a.data, b.data) == (2.0, [1, 2])
    assert opt.steps_done == 0


def test_unknown_variables_and_empty_suggestions_are_sent_back() -> None:
    a, b = known_graph()
    model = ScriptedChat([reply({"c": 1}), reply({}), reply({"a": 1})])
    assert OptoPrime([a, b], llm=model).step() == {a: 1.0}
    assert "unknown variable(s) 'c'; the variables are 'a', 'b'" in last_human(model.calls[1])
    assert "the reply suggests no change" in last_human(model.calls[2])


def test_skip_mode_logs_a_no_op(caplog: pytest.LogCaptureFixture) -> None:
    a, b = known_graph()
    opt = OptoPrime([a, b], llm=ScriptedChat(["nonsense"]), max_retries=0, on_invalid="skip")
    assert opt.step() == {}
    assert a.data == 2.0 and "OptoPrime step 1 skipped" in caplog.text
    assert opt.steps_done == 1


def test_transient_call_failures_are_retried_then_raised_naming_the_model() -> None:
    a, b = known_graph()
    flaky = ScriptedChat([ConnectionError("reset"), TimeoutError("slow"), reply({"a": 6})])
    opt = OptoPrime([a, b], llm=LLM(flaky, max_retries=3, backoff_s=0.0))
    assert opt.step() == {a: 6.0}
    down = ScriptedChat([ConnectionError("refused")] * 3)
    opt = OptoPrime([a, b], llm=LLM(down, max_retries=2, backoff_s=0.0))
    with pytest.raises(LLMCallError, match="scripted: call failed after 3 attempts"):
        opt.step()
    assert a.data == 6.0
    assert opt.log[-1]["error"].startswith("scripted: call failed")


def test_no_feedback_is_an_error() -> None:
    p = og.node(1, trainable=True, name="p")
    with pytest.raises(OptimizerError, match="received no feedback"):
        OptoPrime([p], llm=ScriptedChat([])).step()


def test_memory_shows_the_last_k_attempts() -> None:
    x = og.node(0.0, trainable=True, name="x")
    model = ScriptedChat([reply({"x": v}) for v in (1, 2, 3, 4)])
    opt = OptoPrime([x], llm=model, memory_size=2)
    for _ in range(4):
        y = x * 2
        opt.zero_feedback()
        y.backward(f"y is {y.data}; make it 10")
        opt.step()
    prompt = last_human(model.calls[3])
    assert "#Past attempts (oldest first)" in prompt
    assert '{"variables": {"x": "1.0"}, "feedback": "y is 2.0; make it 10"}' in prompt
    assert '{"variables": {"x": "2.0"}, "feedback": "y is 4.0; make it 10"}' in prompt
    assert '"x": "0.0"' not in prompt  # older than the last two
    assert "#Past" not in last_human(model.calls[0])


def test_state_dict_round_trip_gives_the_same_next_prompt() -> None:
    x = og.node(0.0, trainable=True, name="x")
    opt = OptoPrime([x], llm=ScriptedChat([reply({"x": 1}), reply({"x": 2})]), memory_size=3)
    for _ in range(2):
        opt.zero_feedback()
        (x + 1).backward("larger")
        opt.step()
    state = json.loads(json.dumps(opt.state_dict()))
    twin = OptoPrime([x], llm=ScriptedChat([]), memory_size=3)
    twin.load_state_dict(state)
    assert twin.state_dict() == opt.state_dict()
    opt.zero_feedback()
    (x + 1).backward("larger")
    assert twin.messages()[1].content == opt.messages()[1].content
    with pytest.raises(OptimizerError, match="saved by EvolutionaryOptimizer"):
        twin.load_state_dict({"type": "EvolutionaryOptimizer"})


def test_best_of_n_keeps_the_candidate_the_workflow_scores_best() -> None:
    x = og.node(0.0, trainable=True, name="x")

    def evaluate() -> float:
        y = (x - 7) * (x - 7)
        y.backward("side effect that must not stay")  # feedback given here is removed again
        return y.data

    model = ScriptedChat([reply({"x": 3}), reply({"x": 6}), reply({"x": 20})])
    opt = OptoPrime([x], llm=model, candidates=3, evaluate=evaluate)
    y = (x - 7) * (x - 7)
    y.backward("make it 0")
    assert opt.step() == {x: 6.0}
    assert [item.text() for item in x.feedback] == ["make it 0"]
    assert "These suggestions were already made:\nx = 3.0\nx = 6.0" in last_human(model.calls[2])
    assert opt.log[-1]["candidate_scores"] == [16.0, 1.0, 169.0]
    alone = OptoPrime([x], llm=ScriptedChat([reply({"x": 1}), reply({"x": 2})]), candidates=2)
    with pytest.raises(OptimizerError, match="needs evaluate="):
        alone.step()
    assert x.data == 6.0


def test_long_variables_are_shown_whole_and_other_values_are_cut() -> None:
    text = "word " * 300
    p = og.node(text, trainable=True, name="prompt")
    out = p + "!"
    out.backward("shorter")
    user = OptoPrime([p], llm=ScriptedChat([]), max_chars=100).messages()[1].content
    assert f"(str) prompt = {json.dumps(text)}" in user
    assert "...(truncated)" in user.split("#Outputs")[1]
