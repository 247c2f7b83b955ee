"""copy.copy, copy.deepcopy and pickle of nodes, and og.node(existing, trainable=True)."""

from __future__ import annotations

import copy
import pickle

import pytest

import optograph as og

COPIES = {
    "copy": copy.copy,
    "deepcopy": copy.deepcopy,
    "pickle": lambda n: pickle.loads(pickle.dumps(n)),
}


@pytest.mark.parametrize("how", list(COPIES))
def test_a_copied_parameter_is_a_new_parameter_with_the_same_value(how: str) -> None:
    with og.Run():
        x = og.node([1, 2], trainable=True, name="x", description="d", constraint="c")
    x.backward("more")
    y = COPIES[how](x)
    assert y is not x and y.trainable
    assert y.data == [1, 2] and y.name == "x"
    assert (y.description, y.constraint) == ("d", "c")
    assert y.feedback == () and y.inputs == ()
    y.set([3])
    assert x.data == [1, 2]


def test_copy_shares_the_value_deepcopy_and_pickle_copy_it() -> None:
    x = og.node([1], trainable=True)
    assert copy.copy(x).data is x.data
    assert copy.deepcopy(x).data is not x.data
    assert pickle.loads(pickle.dumps(x)).data is not x.data


@pytest.mark.parametrize("how", list(COPIES))
def test_a_copied_intermediate_is_a_constant(how: str) -> None:
    x = og.node(2, trainable=True)
    y = x * 3
    z = COPIES[how](y)
    assert z.kind == "input" and z.data == 6 and z.inputs == () and z.op is None
    z.backward("feedback on the copy")
    assert x.feedback == ()


def test_a_copied_exception_node_is_a_constant_holding_its_message() -> None:
    @og.bundle()
    def fail(v: int) -> int:
        return v // 0

    with pytest.raises(og.ExecutionError) as caught:
        fail(og.node(1))
    copied = copy.deepcopy(caught.value.exception_node)
    assert copied.kind == "input" and "ZeroDivisionError" in copied.data and copied.info is None


def test_deepcopy_keeps_shared_nodes_shared() -> None:
    x = og.node(1, trainable=True)
    a, b = copy.deepcopy([x, x])
    assert a is b and a is not x


def test_node_of_a_node_with_trainable_makes_a_parameter_sharing_the_data() -> None:
    with og.Run():
        value = og.node({"k": 1}, name="cfg", description="settings")
        param = og.node(value, trainable=True)
        assert param is not value and param.trainable and not value.trainable
        assert param.data is value.data
        assert param.name.split(":")[0] == "cfg" and param.description == "settings"
        named = og.node(value, trainable=True, name="other", description="new")
        assert named.name == "other" and named.description == "new"


def test_node_of_a_node_without_trainable_returns_it() -> None:
    x = og.node(1)
    assert og.node(x) is x
    p = og.node(1, trainable=True)
    assert og.node(p) is p
