"""Calls on nodes whose arguments hold several nodes (str.join, str.format, containers) and
og.pack: every node is an input of the operation."""

from __future__ import annotations

import optograph as og


def test_join_of_a_list_of_nodes_traces_every_item() -> None:
    a, b = og.node("a"), og.node("b")
    joined = og.node("+").join([a, b])
    assert joined.data == "a+b"
    assert a in joined.inputs and b in joined.inputs
    assert joined.input_names[1:] == ("arg0[0]", "arg0[1]")


def test_feedback_on_a_join_reaches_both_parameters() -> None:
    a, b = og.node("a", trainable=True), og.node("b", trainable=True)
    og.node(", ").join((a, "plain", b)).backward("too long")
    assert a.feedback and b.feedback


def test_format_with_several_nodes_positional_and_keyword() -> None:
    a, b = og.node("x"), og.node(2)
    text = og.node("{} has {n}").format(a, n=b)
    assert text.data == "x has 2" and {a, b} <= set(text.inputs)


def test_a_dict_argument_holding_nodes_is_unwrapped() -> None:
    v = og.node(5)
    updated = og.node("{a}-{b}").format_map({"a": v, "b": "c"})
    assert updated.data == "5-c" and v in updated.inputs


def test_pack_builds_a_traced_literal() -> None:
    a, b = og.node("a"), og.node(1)
    packed = og.pack([a, {"k": b}, 3])
    assert packed.data == ["a", {"k": 1}, 3]
    assert set(packed.inputs) == {a, b} and packed.constants == {"items[2]": 3}
    assert og.pack((a,)).data == ("a",)
