"""Context-local parameter values (`parameter_values`): how the candidates of one optimizer step
are evaluated at once. Inside the block a parameter reads as the candidate's value, in every
way the engine reads it; other threads, and the code after the block, see the shared value."""

from __future__ import annotations

import copy
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import optograph as og
from optograph.graph.errors import GraphError
from optograph.graph.run import parameter_values


def test_a_parameter_reads_as_the_blocks_value_in_every_read_path() -> None:
    x = og.node(2.0, trainable=True, name="x")

    @og.bundle()
    def double(v: float) -> float:
        return v * 2

    with parameter_values({x: 5.0}):
        assert x.data == 5.0
        assert (x + 1).data == 6.0  # operators
        assert double(x).data == 10.0  # bundled functions
        assert str(x) == "5.0"
    assert x.data == 2.0
    assert (x + 1).data == 3.0


def test_other_threads_keep_the_shared_value_while_a_block_is_open() -> None:
    x = og.node(1.0, trainable=True, name="x")
    inside, seen = threading.Event(), []

    def candidate(value: float) -> float:
        with parameter_values({x: value}):
            inside.set()
            return (x * 10).data

    def other() -> None:
        inside.wait(5)
        seen.append(x.data)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(candidate, [3.0, 4.0]))
        pool.submit(other).result()
    assert results == [30.0, 40.0]
    assert seen == [1.0]


def test_blocks_nest_and_setting_still_sets_the_shared_value() -> None:
    x = og.node(1.0, trainable=True, name="x")
    y = og.node("a", trainable=True, name="y")
    with parameter_values({x: 2.0}):
        with parameter_values({y: "b"}):
            assert (x.data, y.data) == (2.0, "b")
        assert (x.data, y.data) == (2.0, "a")
        x.set(9.0)
        assert x.data == 2.0  # the block's value wins inside it
    assert x.data == 9.0


def test_copies_and_pickles_of_a_parameter_take_the_same_block() -> None:
    x = og.node(1.0, trainable=True, name="x")
    for twin in (copy.deepcopy(x), pickle.loads(pickle.dumps(x))):
        assert twin.trainable
        with parameter_values({twin: 4.0}):
            assert twin.data == 4.0
        assert twin.data == 1.0


@pytest.mark.parametrize("make", [lambda: og.node(1.0), lambda: og.node(1.0) + 1])
def test_only_parameters_can_take_a_blocks_value(make: object) -> None:
    plain = make()  # type: ignore[operator]
    with pytest.raises(GraphError, match=r"^parameter_values: node '[^']+' is not a parameter"):
        with parameter_values({plain: 2.0}):
            pass
    x = og.node(1.0, trainable=True, name="x")
    with pytest.raises(GraphError, match="a node cannot hold another node"):
        with parameter_values({x: plain}):
            pass
