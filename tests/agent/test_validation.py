"""Suggested values are checked against their parameter before anything is applied."""

from __future__ import annotations

from typing import Any

import pytest

import optograph as og
from optograph.agent.validation import ValidationError, validate_suggestion, validate_value

CODE = "def score(text, limit=3):\n    return len(text) > limit\n"


@pytest.mark.parametrize(
    ("current", "suggested", "expected"),
    [
        (3.0, "7", 7.0),
        (3.0, 7, 7.0),
        (3, 7.0, 7),
        (3, "12", 12),
        ([1, 2], "[4, 5]", [4, 5]),
        ([1, 2], [4, "5"], [4, 5]),
        ([1.0, 2.0], [4, 5], [4.0, 5.0]),
        ((1, 2), [4, 5], (4, 5)),
        (["a"], '["b", "c"]', ["b", "c"]),
        ({"k": 1}, "{'k': 2}", {"k": 2}),
        (True, "false", False),
        ("hello", "bye", "bye"),
        ("hello", 5, "5"),
    ],
)
def test_type_is_kept(current: Any, suggested: Any, expected: Any) -> None:
    p = og.node(current, trainable=True, name="p")
    value = validate_value(p, suggested)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("current", "suggested", "message"),
    [
        (3, 2.5, "p: expected an integer (int); got 2.5"),
        (3, "many", "p: expected an integer (int); got str 'many'"),
        (3.0, "fast", "p: expected a number (float); got 'fast'"),
        (3.0, [1], "p: expected a number (float); got list [1]"),
        ([1, 2], "4, 5, oops", "p: expected a list; got str '4, 5, oops'"),
        ([1, 2], [1, "x"], "p: item 1: expected an integer (int); got str 'x'"),
        ({"k": 1}, [1], "p: expected a dict; got list [1]"),
        (True, "maybe", "p: expected true or false (bool); got 'maybe'"),
        ("text", {"a": 1}, "p: expected text (str); got dict {'a': 1}"),
    ],
)
def test_wrong_types_are_reported_with_the_variable_name(current: Any, suggested: Any, message: str) -> None:
    p = og.node(current, trainable=True, name="p")
    with pytest.raises(ValidationError) as info:
        validate_value(p, suggested)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("constraint", "good", "bad"),
    [
        ("0 <= x <= 10", 10, 11),
        ("lr > 0", 0.5, 0.0),
        ("len(x) == 2", [1, 2], [1, 2, 3]),
        ("x in ('a', 'b')", "a", "c"),
        ("all(v > 0 for v in x)", [1, 2], [1, -2]),
        ("x[0] < x[1]", [1, 2], [2, 1]),
    ],
)
def test_checkable_constraints_hold(constraint: str, good: Any, bad: Any) -> None:
    p = og.node(good, trainable=True, name="lr", constraint=constraint)
    assert validate_value(p, good) == good
    with pytest.raises(ValidationError, match="violates the constraint"):
        validate_value(p, bad)


def test_descriptive_constraints_are_not_checked() -> None:
    p = og.node("hi", trainable=True, name="greeting", constraint="a polite greeting in French")
    assert validate_value(p, "yo") == "yo"
    q = og.node(2, trainable=True, name="q", constraint="q < limit")  # unknown name: shown only
    assert validate_value(q, 99) == 99


def test_constraint_on_a_value_of_the_wrong_shape_is_reported() -> None:
    p = og.node([1], trainable=True, name="p", constraint="len(x) == 1")
    p.set(None)  # a parameter whose current value is None accepts any value, but not this check
    with pytest.raises(ValidationError, match="cannot check the constraint"):
        validate_value(p, 3)


def code_param() -> og.Node:
    return og.node(CODE, trainable=True, name="__code_score")


def test_code_keeps_name_and_signature() -> None:
    good = "def score(text, limit=3):\n    return len(text.strip()) > limit"
    assert validate_value(code_param(), good) == good + "\n"
    fenced = f"```python\n{good}\n```"
    assert validate_value(code_param(), fenced) == good + "\n"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def score(text, limit=3):\n    return len(text) >", "the code does not parse: line 2"),
        ("def rate(text, limit=3):\n    return 1", "must define the function 'score' (found: rate)"),
        ("def score(text):\n    return 1", "the signature must stay score(text, limit); got score(text)"),
        ("", "expected the source of a function (code)"),
    ],
)
def test_bad_code_is_reported(source: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_value(code_param(), source)


def test_unknown_names_and_several_errors_are_reported_together() -> None:
    x = og.node(1.0, trainable=True, name="x", constraint="0 <= x <= 10")
    y = og.node([1], trainable=True, name="y")
    with pytest.raises(ValidationError) as info:
        validate_suggestion([x, y], {"x": 20, "z": 1, "y": "nope"})
    text = str(info.value)
    assert "unknown variable(s) 'z'; the variables are 'x', 'y'" in text
    assert "x: 20.0 violates the constraint '0 <= x <= 10'" in text
    assert "y: expected a list" in text
    assert validate_suggestion([x, y], {"x": "4"}) == {x: 4.0}


def test_a_declared_type_decides_whether_text_is_code() -> None:
    """The declared type, not the name, makes a parameter code (issue 17)."""
    p = og.node(CODE, trainable=True, name="solution", value_type="code")
    with pytest.raises(ValidationError, match="solution: the code does not parse"):
        validate_value(p, "Sort the list, then alternate min and max.")
    assert validate_value(og.node(CODE, trainable=True, name="solution"), "prose") == "prose"
    declared_text = og.node(CODE, trainable=True, name="__code_score", value_type="str")
    assert validate_value(declared_text, "prose") == "prose"
    assert og.to_networkx(p).nodes["solution"]["value_type"] == "code"
