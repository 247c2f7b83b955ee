"""The two offline examples: the numeric problem of the Trace optimization tutorial, and a code
parameter fixed until its unit tests pass; plus replaying a recorded run from a cassette."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from scripted_chat import ScriptedChat, last_human

import optograph as og
from optograph.agent import LLM, Cassette, OptoPrime, optimize


def blackbox(x: float) -> float:
    return -x * 2


@og.bundle()
def bar(x: float) -> float:
    "This is a test function, which does negative scaling."
    return blackbox(x)


def foo(x: Any) -> Any:
    y = x + 1
    return x * y


def user(value: float) -> str:
    return "The number needs to be larger." if value < 50 else "Success."


def reading_model(messages: list[Any]) -> str:
    """Stands in for an LLM: reads the variable, the documentation and the feedback from the
    prompt, and moves x in the direction the documentation implies."""
    prompt = last_human(messages)
    x = float(re.search(r"\(float\) x = (\S+)", prompt).group(1))  # type: ignore[union-attr]
    wants_larger = "needs to be larger" in prompt.split("\n#Feedback\n")[1]
    documentation = prompt.split("\n#Documentation\n")[1].split("\n#Variables\n")[0]
    negative = "negative scaling" in documentation
    move = (-1.0 if negative else 1.0) * (1.0 if wants_larger else 0.0)
    return json.dumps({
        "reasoning": "bar scales negatively, so a more negative x makes the output larger",
        "answer": "", "suggestion": {"x": x + move},
    })


def test_trace_tutorial_numeric_problem() -> None:
    x = og.node(-1.0, trainable=True, name="x")
    model = ScriptedChat(reading_model)
    result = optimize(
        lambda: foo(bar(x)),
        lambda out: (1.0 if user(out.data) == "Success." else 0.0, user(out.data)),
        OptoPrime([x], llm=model),
        steps=10, target=1.0, minimize=False,
    )
    assert result.stop_reason == "target 1 reached (score 1)"
    assert [entry["values"]["x"] for entry in result.history] == [-1.0, -2.0, -3.0, -4.0]
    assert x.data == -4.0 and user(foo(bar(x)).data) == "Success."
    first = last_human(model.calls[0])
    assert "bar = bar(x=x)\nadd = add(a=bar, b=1)\nmul = mul(a=bar, b=add)" in first
    assert "(float) mul = 6.0" in first


def strange_sort_list(lst: list[int]) -> list[int]:
    """Return the list in strange order: the minimum, then the maximum of the rest, then the
    minimum of the rest, and so on."""
    return sorted(lst)


SYNTAX_ERROR = "def strange_sort_list(lst):\n    return sorted(lst\n"
STILL_WRONG = "def strange_sort_list(lst):\n    return sorted(lst, reverse=True)\n"
FIXED = '''def strange_sort_list(lst):
    rest, out, take_min = sorted(lst), [], True
    while rest:
        out.append(rest.pop(0) if take_min else rest.pop())
        take_min = not take_min
    return out
'''
CASES = [([1, 2, 3, 4], [1, 4, 2, 3]), ([5, 5, 5, 5], [5, 5, 5, 5]), ([], []), ([9, 1, 5], [1, 9, 5])]


def code_workflow() -> tuple[og.Node, Any]:
    # a fresh bundle per test, so the code parameter starts with the buggy source above
    fn = og.bundle(trainable=True, sandbox="inline")(strange_sort_list)
    assert fn.code is not None and "return sorted(lst)" in fn.code.data

    def workflow() -> og.Node:
        return collect(*[fn(case) for case, _ in CASES])

    return fn.code, workflow


@og.bundle()
def collect(*results: list[int]) -> list[list[int]]:
    """The results of the unit-test cases, in order."""
    return list(results)


def unit_tests(out: og.Node) -> tuple[int, str]:
    failures = [f"strange_sort_list({case}) returned {got}, expected {want}"
                for (case, want), got in zip(CASES, out.data, strict=True) if got != want]
    return len(failures), "; ".join(failures) or "all tests pass"


def fix_code_script() -> list[str]:
    def reply(code: str) -> str:
        return json.dumps({"reasoning": "fix the order", "answer": "",
                           "suggestion": {"__code_strange_sort_list": code}})

    return [reply(SYNTAX_ERROR), reply(STILL_WRONG), reply(FIXED)]


def test_code_parameter_fixed_until_its_unit_tests_pass(tmp_path: Path) -> None:
    code, workflow = code_workflow()
    model = ScriptedChat(fix_code_script())
    result = optimize(workflow, unit_tests, OptoPrime([code], llm=model),
                      steps=5, target=0, minimize=True)
    assert result.stop_reason == "target 0 reached (score 0)"
    assert result.scores == [2.0, 2.0, 0.0]
    assert code.data == FIXED
    assert "the code does not parse: line 2" in last_human(model.calls[1])  # retried with the error
    assert "expected [1, 4, 2, 3]" in last_human(model.calls[2])


def test_a_recorded_run_replays_offline_with_identical_updates(tmp_path: Path) -> None:
    path = tmp_path / "fix.jsonl"
    code, workflow = code_workflow()
    recording = LLM(ScriptedChat(fix_code_script()), cassette=Cassette(path, "record"))
    recorded = optimize(workflow, unit_tests, OptoPrime([code], llm=recording),
                        steps=5, target=0, minimize=True)
    with og.Run():  # a new naming scope: the parameter gets the same name as when recorded
        code, workflow = code_workflow()
    no_model = ScriptedChat([])  # any call that reaches it fails the test
    replaying = LLM(no_model, cassette=Cassette(path, "replay"))
    replayed = optimize(workflow, unit_tests, OptoPrime([code], llm=replaying),
                        steps=5, target=0, minimize=True)
    assert no_model.calls == []
    assert replayed.history == recorded.history and code.data == FIXED
    assert replayed.usage["total"]["calls"] == recorded.usage["total"]["calls"] == 3
