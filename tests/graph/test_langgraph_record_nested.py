"""The record of retried tasks and of subgraphs (issue 12): a RetryPolicy's failed attempt is
part of its task's one step; a subgraph's steps are linked to the parent task that ran them
(also when the subgraph has its own checkpointer) and its edges are recorded; a resumed task
is continued, not reached again from __start__."""

from __future__ import annotations

import asyncio

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.types import RetryPolicy
from langgraph_patterns import subgraph_node
from langgraph_patterns_nested import (
    Counter,
    retry_policy,
    subgraph_checkpointer,
    subgraph_checkpointer_interrupt,
    subgraph_interrupt,
)

from optograph.graph import ExecutionError
from optograph.graph.langgraph import last_trace, trace_langgraph


def pairs(edges) -> list[tuple[str, str]]:
    return [(e.source, e.target) for e in edges]


def parents(node) -> list:
    return [p for _, p in node.parents]


def has_parent(node, parent) -> bool:
    """By identity (a Node's == is a traced operation)."""
    return any(p is parent for p in parents(node))


@pytest.mark.parametrize("is_async", [False, True])
def test_retried_task_is_one_step_that_keeps_its_failed_attempt(is_async: bool) -> None:
    p = retry_policy()
    traced = trace_langgraph(p.build())
    run = traced.atrace(p.input) if is_async else None
    record = asyncio.run(run) if run is not None else traced.trace(p.input)
    assert record.executed == ["one", "flaky", "last"] and not record.failures
    (flaky,) = [s for s in record.steps if s.node == "flaky"]
    (attempt,) = flaky.failed_attempts
    assert "ConnectionError" in str(attempt.data) and "flaky attempt at value 1" in str(attempt.data)
    assert has_parent(attempt, flaky.state)  # the failed attempt got the task's input
    assert has_parent(flaky.output, attempt)  # and the optimizer sees it
    assert record.output is not None and record.output.data["log"] == ["one", "flaky", "last saw 3"]
    assert pairs(record.edges) == [
        ("__start__", "one"), ("one", "flaky"), ("flaky", "last"), ("last", "__end__")
    ]


def test_task_that_fails_every_attempt_is_one_failure_with_the_earlier_attempts() -> None:
    def broken(state: Counter) -> dict:
        raise ConnectionError("down")

    b = StateGraph(Counter)
    b.add_node("broken", broken, retry_policy=RetryPolicy(max_attempts=3, initial_interval=0,
                                                          jitter=False))
    b.add_edge(START, "broken")
    with pytest.raises(ExecutionError):
        trace_langgraph(b).trace({"value": 0, "log": []})
    record = last_trace()
    assert record is not None and not record.steps
    (failure,) = record.failures
    assert len(failure.failed_attempts) == 2 and record.exception is failure.exception


def test_subgraph_edges_are_recorded_in_its_own_namespace() -> None:
    p = subgraph_node()
    record = trace_langgraph(p.build()).trace(p.input)
    (child,) = [s for s in record.steps if s.node == "child"]
    assert pairs(record.edges) == [
        ("__start__", "first"), ("first", "child"), ("child", "after"), ("after", "__end__")
    ]
    inner = record.edges_in(child)
    assert pairs(inner) == pairs(record.edges_in(child.namespace))
    assert pairs(inner) == [("__start__", "child_a"), ("child_a", "child_b"), ("child_b", "__end__")]
    assert {e.scope for e in inner} == {child.namespace}
    assert pairs(record.all_edges) == pairs(record.edges) + pairs(inner)


def test_interrupt_inside_a_subgraph_resumed_through_the_parent() -> None:
    p = subgraph_interrupt()
    traced = trace_langgraph(p.build(), checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "1"}}
    traced.invoke(p.input, config)
    paused = last_trace()
    (child,) = [s for s in paused.steps if s.node == "child"]
    assert child.interrupted
    ask = next(s for s in paused.steps if s.node == "child_ask")
    assert ask.interrupted and ask.scope == child.namespace
    assert pairs(paused.edges_in(child)) == [
        ("__start__", "child_a"), ("child_a", "child_ask")
    ]
    assert ("child", "after") not in pairs(paused.edges)
    traced.invoke(p.resume, config)
    resumed = last_trace()
    (child,) = [s for s in resumed.steps if s.node == "child"]
    assert child.resumed  # continued from the checkpoint, not reached again from __start__
    assert pairs(resumed.edges) == [("child", "after"), ("after", "__end__")]
    assert resumed.output.data == traced.get_state(config).values
    assert resumed.output.data["foo"] == "x-s:ada!"


def test_subgraph_with_its_own_checkpointer_resumes_its_pending_task() -> None:
    p = subgraph_checkpointer_interrupt()
    traced = trace_langgraph(p.build(), checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "1"}}
    traced.invoke(p.input, config)
    traced.invoke(p.resume, config)
    resumed = last_trace()
    (child,) = [s for s in resumed.steps if s.node == "child"]
    assert [s.node for s in resumed.steps if s.scope == "child"] == ["child_ask", "child_b"]
    ask = next(s for s in resumed.steps if s.node == "child_ask")
    assert ask.resumed and ask.outer == child.task_id
    assert pairs(resumed.edges_in("child")) == [("child_ask", "child_b"), ("child_b", "__end__")]
    assert pairs(resumed.edges_in(child)) == pairs(resumed.edges_in("child"))
    # the subgraph's result reaches the parent task's output
    child_b = next(s for s in resumed.steps if s.node == "child_b")
    assert has_parent(child.output, child_b.output)


def test_subgraph_with_its_own_checkpointer_links_each_run_to_its_parent_task() -> None:
    p = subgraph_checkpointer()
    traced = trace_langgraph(p.build(), checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "1"}}
    traced.invoke(p.input, config)
    record = last_trace()
    outer = [s for s in record.steps if s.node == "inner"]
    firsts = [s for s in record.steps if s.node == "inner_1"]
    seconds = [s for s in record.steps if s.node == "inner_2"]
    assert len(outer) == len(firsts) == len(seconds) == 2
    for parent_task, first, second in zip(outer, firsts, seconds, strict=True):
        assert first.scope == "inner" and first.outer == parent_task.task_id
        # the subgraph's input is the state its parent task got, not the graph input
        assert has_parent(first.state, parent_task.state)
        assert not has_parent(first.state, record.input)
        assert has_parent(parent_task.output, second.output)
    # the subgraph keeps its state: the second run's my_key adds to what the first wrote
    assert has_parent(firsts[1].state, seconds[0].output)
    assert pairs(record.edges_in("inner")) == [
        ("__start__", "inner_1"), ("inner_1", "inner_2"), ("inner_2", "__end__")
    ] * 2
    for parent_task in outer:  # each run of the subgraph: the edges its parent task's run took
        assert pairs(record.edges_in(parent_task)) == [
            ("__start__", "inner_1"), ("inner_1", "inner_2"), ("inner_2", "__end__")
        ]
