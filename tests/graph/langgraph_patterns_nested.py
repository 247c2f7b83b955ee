"""More LangGraph patterns for the conformance suite (test_langgraph_conformance.py), built the
way LangGraph's own tests build them (test_pregel.py: test_pending_writes_resume for a
RetryPolicy, test_subgraph_checkpoint_true and test_subgraph_checkpoint_true_interrupt for
subgraphs with their own checkpointer; test_subgraph_persistence.py for interrupts inside a
subgraph resumed through the parent)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, RetryPolicy, interrupt
from langgraph_patterns import Child, Parent, Pattern

# -- RetryPolicy ---------------------------------------------------------------------------


class Counter(TypedDict):
    value: Annotated[int, operator.add]
    log: Annotated[list[str], operator.add]


def retry_policy() -> Pattern:
    """A node whose first attempt of each run fails with a ConnectionError (which the default
    retry_on retries) and whose second attempt succeeds."""
    calls = [0]

    def flaky(state: Counter) -> dict[str, Any]:
        calls[0] += 1
        if calls[0] % 2:  # every run calls it twice: the failing attempt, then the retry
            raise ConnectionError(f"flaky attempt at value {state['value']}")
        return {"value": 2, "log": ["flaky"]}

    def build() -> StateGraph:
        b = StateGraph(Counter)
        b.add_node("one", lambda s: {"value": 1, "log": ["one"]})
        b.add_node(
            "flaky",
            flaky,
            retry_policy=RetryPolicy(max_attempts=2, initial_interval=0, jitter=False),
        )
        b.add_node("last", lambda s: {"log": [f"last saw {s['value']}"]})
        b.add_edge(START, "one")
        b.add_edge("one", "flaky")
        b.add_edge("flaky", "last")
        return b

    return Pattern("retry_policy", build, {"value": 0, "log": []})


# -- subgraphs with interrupts and their own checkpointer ----------------------------------


def _asking_child(checkpointer: bool | None) -> Any:
    def child_a(state: Child) -> dict[str, Any]:
        return {"secret": state["foo"] + "-s"}

    def child_ask(state: Child) -> dict[str, Any]:
        answer = interrupt({"question": "name?", "secret": state["secret"]})
        return {"foo": f"{state['secret']}:{answer}"}

    def child_b(state: Child) -> dict[str, Any]:
        return {"foo": state["foo"] + "!"}

    c = StateGraph(Child)
    c.add_node("child_a", child_a)
    c.add_node("child_ask", child_ask)
    c.add_node("child_b", child_b)
    c.add_edge(START, "child_a")
    c.add_edge("child_a", "child_ask")
    c.add_edge("child_ask", "child_b")
    return c.compile(checkpointer=checkpointer)


def _outer(child: Any) -> StateGraph:
    b = StateGraph(Parent)
    b.add_node("first", lambda s: {"log": ["first"]})
    b.add_node("child", child)
    b.add_node("after", lambda s: {"log": [f"after {s['foo']}"]})
    b.add_edge(START, "first")
    b.add_edge("first", "child")
    b.add_edge("child", "after")
    return b


def subgraph_interrupt() -> Pattern:
    """interrupt() inside a subgraph node, resumed with Command(resume=...) through the parent
    (the subgraph inherits the parent's checkpointer)."""
    return Pattern(
        "subgraph_interrupt",
        lambda: _outer(_asking_child(None)),
        {"foo": "x", "log": []},
        checkpointer=True,
        resume=Command(resume="ada"),
    )


def subgraph_checkpointer_interrupt() -> Pattern:
    """The same with the subgraph compiled with checkpointer=True (its own persistent
    namespace, keyed by the node name)."""
    return Pattern(
        "subgraph_checkpointer_interrupt",
        lambda: _outer(_asking_child(True)),
        {"foo": "x", "log": []},
        checkpointer=True,
        resume=Command(resume="ada"),
    )


class LoopInner(TypedDict):
    my_key: Annotated[str, operator.add]
    my_other_key: str


class LoopOuter(TypedDict):
    my_key: str


def subgraph_checkpointer() -> Pattern:
    """A subgraph compiled with checkpointer=True run twice in a loop, then a second run on
    the same thread: its state accumulates across invocations."""

    def inner_1(state: LoopInner) -> dict[str, Any]:
        return {"my_key": " got here", "my_other_key": state["my_key"]}

    def inner_2(state: LoopInner) -> dict[str, Any]:
        return {"my_key": " and there"}

    def again(state: LoopOuter) -> str:
        return "inner" if state["my_key"].count("there") < 2 else END

    def build() -> StateGraph:
        inner = StateGraph(LoopInner)
        inner.add_node("inner_1", inner_1)
        inner.add_node("inner_2", inner_2)
        inner.add_edge(START, "inner_1")
        inner.add_edge("inner_1", "inner_2")
        inner.add_edge("inner_2", END)
        b = StateGraph(LoopOuter)
        b.add_node("inner", inner.compile(checkpointer=True))
        b.add_edge(START, "inner")
        b.add_conditional_edges("inner", again, ["inner", END])
        return b

    return Pattern(
        "subgraph_checkpointer",
        build,
        {"my_key": ""},
        checkpointer=True,
        resume={"my_key": ""},  # a second run on the same thread
    )


class Bar(TypedDict):
    bar: str
    baz: str


class Foo(TypedDict):
    foo: str


def subgraph_invoked_in_node() -> Pattern:
    """A subgraph with checkpointer=True that a node's function invokes (its schema shares
    no key with the parent's) and that interrupts; resumed through the parent. It runs
    unchanged traced; its inner nodes are part of the node's step (a known limit, warned)."""

    def build() -> StateGraph:
        def sub_1(state: Bar) -> dict[str, Any]:
            return {"baz": interrupt("Provide baz value")}

        def sub_2(state: Bar) -> dict[str, Any]:
            return {"bar": state["bar"] + state["baz"]}

        s = StateGraph(Bar)
        s.add_node("sub_1", sub_1)
        s.add_node("sub_2", sub_2)
        s.add_edge(START, "sub_1")
        s.add_edge("sub_1", "sub_2")
        subgraph = s.compile(checkpointer=True)

        def node_1(state: Foo) -> dict[str, Any]:
            return {"foo": "hi! " + state["foo"]}

        def node_2(state: Foo) -> dict[str, Any]:
            return {"foo": subgraph.invoke({"bar": state["foo"]})["bar"]}

        b = StateGraph(Foo)
        b.add_node("node_1", node_1)
        b.add_node("node_2", node_2)
        b.add_edge(START, "node_1")
        b.add_edge("node_1", "node_2")
        return b

    return Pattern(
        "subgraph_invoked_in_node",
        build,
        {"foo": "foo"},
        checkpointer=True,
        resume=Command(resume="baz"),
        warning="graph node 'node_2' runs graph 'subgraph' from its function",
        opaque=("node_2",),
    )


NESTED_PATTERNS: list[Callable[[], Pattern]] = [
    retry_policy,
    subgraph_interrupt,
    subgraph_checkpointer_interrupt,
    subgraph_checkpointer,
    subgraph_invoked_in_node,
]
