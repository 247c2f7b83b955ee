import operator

import pytest

import optograph as og


@pytest.mark.parametrize(
    "fn, a, b",
    [
        (operator.add, 3, 4), (operator.sub, 3, 4), (operator.mul, 3, 4),
        (operator.truediv, 3, 4), (operator.floordiv, 9, 4), (operator.mod, 9, 4),
        (operator.pow, 3, 4), (operator.and_, 6, 3), (operator.or_, 6, 3),
        (operator.xor, 6, 3), (operator.lshift, 1, 3), (operator.rshift, 8, 2),
        (operator.lt, 3, 4), (operator.le, 3, 4), (operator.eq, 3, 4),
        (operator.ne, 3, 4), (operator.gt, 3, 4), (operator.ge, 3, 4),
    ],
)
def test_binary_operators_are_traced_both_ways(fn, a, b):
    x = og.node(a, name="x")
    forward = fn(x, b)
    assert forward.data == fn(a, b)
    assert [p for _, p in forward.parents] == [x]
    if fn not in (operator.lt, operator.le, operator.eq, operator.ne, operator.gt, operator.ge):
        reflected = fn(a, og.node(b))
        assert reflected.data == fn(a, b)


@pytest.mark.parametrize("fn", [operator.neg, operator.pos, abs, operator.invert])
def test_unary_operators(fn):
    x = og.node(5)
    assert fn(x).data == fn(5)
    assert fn(x).parents[0][1] is x


def test_index_attribute_and_call_are_traced():
    s = og.node("hello", trainable=True, name="s")
    upper = s.upper()
    assert upper.data == "HELLO"
    ops = [n.op.name for n in upper.ancestors(include_self=True) if n.op]
    assert ops == ["call", "getattr"]
    items = og.node([10, 20, 30])
    first = items[0]
    assert first.data == 10 and first.op.name == "getitem"
    assert [n.data for n in items] == [10, 20, 30]  # iteration yields traced items
    upper.backward("shout less")
    assert len(s.feedback) == 1


def test_private_attributes_are_not_traced():
    x = og.node("a")
    with pytest.raises(AttributeError):
        x._missing  # noqa: B018


def test_a_values_attribute_is_traced_unless_the_node_has_one_of_that_name():
    class Report:
        details = "three failures"
        name = "nightly"

    report = og.node(Report(), name="report")
    details = report.details  # the node keeps its own extras in a private slot
    assert details.data == "three failures" and details.op.name == "getattr"
    assert report.name == "report"  # the node's own attribute, as documented


def test_failing_operator_raises_execution_error_with_exception_node():
    x = og.node(1, trainable=True, name="x")
    with pytest.raises(og.ExecutionError) as info:
        x + "a"
    exc_node = info.value.exception_node
    assert exc_node.kind == "exception"
    assert "TypeError" in exc_node.data
    assert exc_node.parents[0][1] is x
    exc_node.backward("do not add strings to numbers")
    assert x.feedback[0].output is exc_node


def test_operators_without_tracing_return_plain_values():
    x = og.node(2)
    with og.no_trace():
        y = x * 5
    assert y == 10 and not isinstance(y, og.Node)


def test_iterating_a_dict_node_yields_traced_keys_and_membership_is_plain():
    d = og.node({"a": 1, "b": 2}, trainable=True, name="d")
    keys = list(d)
    assert [k.data for k in keys] == ["a", "b"]
    assert keys[0].parents[0][1].op.name == "list"
    keys[1].backward("wrong key")
    assert d.feedback
    assert "a" in d and og.node("b") in d and "z" not in d
