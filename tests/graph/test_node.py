import pytest

import optograph as og
from optograph.graph.node import Node


def test_node_holds_value_and_unique_names_per_run():
    with og.Run():
        a = og.node(1.0, trainable=True, name="x")
        b = og.node(2.0, trainable=True, name="x")
        c = og.node("hi")
    assert (a.data, b.data, c.data) == (1.0, 2.0, "hi")
    assert a.name == "x" and b.name == "x:1"
    assert a.trainable and not c.trainable
    assert a.kind == "parameter" and c.kind == "input"


def test_a_parameter_keeps_its_description_constraint_and_search_space():
    from optograph.graph.search_space import IntRange

    space = IntRange(0, 10)
    x = og.node(3, trainable=True, name="x", description="a knob", constraint="0 <= x <= 10",
                search_space=space)
    assert (x.description, x.constraint, x.search_space) == ("a knob", "0 <= x <= 10", space)
    y = x + 1  # an operation has none of them, nor an exception's info
    assert (y.description, y.constraint, y.search_space, y.info) == (None, None, None, None)
    with pytest.raises(AttributeError):
        y.description = "changed"  # fixed at creation


def test_nodes_hash_by_identity_even_with_equal_values():
    a, b = og.node(1.0), og.node(1.0)
    assert len({a, b, a}) == 2 and {a: "first", b: "second"}[b] == "second"


def test_names_are_stable_across_runs():
    def build():
        with og.Run():
            x = og.node(1, trainable=True, name="x")
            y = x + 1
            z = y * 2
            return [n.name for n in (x, y, z)]

    assert build() == build() == ["x", "add", "mul"]


def test_node_of_node_is_same_node():
    x = og.node(3)
    assert og.node(x) is x


@pytest.mark.parametrize("bad", [(i for i in range(3)), "coroutine"])
def test_unsupported_values_raise_one_line(bad):
    if bad == "coroutine":
        async def f():
            return 1

        bad = f()
    with pytest.raises(og.GraphError) as info:
        og.node(bad)
    assert "\n" not in str(info.value) and "unsupported value" in str(info.value)
    if hasattr(bad, "close"):
        bad.close()


def test_function_as_parameter_points_to_bundle():
    with pytest.raises(og.GraphError, match="bundle"):
        og.node(len, trainable=True)


def test_set_only_on_parameters():
    x = og.node(1, trainable=True)
    x.set(5)
    assert x.data == 5
    with pytest.raises(og.GraphError, match="not trainable"):
        og.node(1).set(2)


def test_backward_reaches_every_parameter_and_accumulates():
    a = og.node(1, trainable=True, name="a")
    b = og.node(2, trainable=True, name="b")
    unused = og.node(3, trainable=True, name="unused")
    y = a + b
    z = a * 3
    y.backward("y is too big")
    z.backward(0.5)
    assert [f.value for f in a.feedback] == ["y is too big", 0.5]
    assert [f.value for f in b.feedback] == ["y is too big"]
    assert unused.feedback == ()
    assert a.feedback[0].output is y
    a.zero_feedback()
    assert a.feedback == ()


def test_feedback_dict_and_bad_feedback():
    a = og.node(1, trainable=True)
    y = a + 1
    y.backward({"score": 0.3, "note": "low"})
    assert a.feedback[0].text() == "score: 0.3; note: low"
    with pytest.raises(og.GraphError, match="feedback"):
        y.backward(["not", "allowed"])
    with pytest.raises(og.GraphError, match="'bad'"):
        y.backward({"bad": [1]})


def test_untraced_builtins_return_plain_values():
    x = og.node([1, 2, 3])
    assert bool(x) is True
    assert len(x) == 3
    assert str(og.node("s")) == "s"
    assert isinstance(hash(x), int)


def test_deep_chain_has_no_recursion_limit():
    x = og.node(0, trainable=True)
    y = x
    for _ in range(5000):
        y = y + 1
    y.backward("ok")
    assert y.data == 5000 and len(x.feedback) == 1
    assert isinstance(y, Node)
