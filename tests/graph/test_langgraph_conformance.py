"""Conformance of trace_langgraph with LangGraph's own patterns (langgraph_patterns.py).

Each pattern runs untraced and traced, sync and async, and the suite asserts: the same
outputs, the same stream chunks in every stream mode (subgraphs included), the same state
history, the same chat model methods called, nothing of optograph in what LangGraph hands
back; and that the record matches LangGraph's own report of the run (its "tasks" stream):
one step per task of the graph, each with the task's input, and `record.output` equal to the
final state. This suite is how a new LangGraph release is checked."""

from __future__ import annotations

import asyncio
import re
import warnings
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph_patterns import PATTERNS, Pattern

from optograph.graph.langgraph import LangGraphTrace, last_trace, trace_langgraph

MODES = ["values", "updates", "messages", "custom", "checkpoints", "debug", "tasks"]
_VOLATILE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # ids, checkpoint ids
    r"|\d{4}-\d\d-\d\dT[\d:.+]+(?:Z|[+-]\d\d:\d\d)?"  # timestamps
    r"|0x[0-9a-f]+|\b[0-9a-f]{32}\b"  # addresses, interrupt ids
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def canon(value: Any) -> str:
    return _VOLATILE.sub("X", repr(value))


def assert_clean(value: Any) -> None:
    """Nothing of optograph in what LangGraph hands the user."""
    seen: set[int] = set()

    def walk(v: Any) -> None:
        if id(v) in seen:
            return
        seen.add(id(v))
        assert not type(v).__module__.startswith("optograph"), f"optograph object {v!r:.80}"
        if isinstance(v, dict):
            for k, item in v.items():
                assert "optograph" not in str(k), f"optograph key {k!r}"
                walk(item)
        elif isinstance(v, (list, tuple, set)):
            for item in v:
                walk(item)

    walk(value)


def assert_same_chunks(plain: list[Any], traced: list[Any]) -> None:
    """The same chunks; tasks running in parallel in one superstep finish in any order, so
    only the chunks LangGraph emits between supersteps (values, checkpoints) keep theirs."""
    assert sorted(canon(c) for c in plain) == sorted(canon(c) for c in traced)

    def ordered(chunks: list[Any]) -> list[str]:
        return [
            canon(c) for c in chunks
            if isinstance(c, tuple) and len(c) == 3 and c[1] in ("values", "checkpoints")
        ]

    assert ordered(plain) == ordered(traced)


def graphs(p: Pattern) -> tuple[Any, Any]:
    built = p.build()
    def saver() -> dict[str, Any]:  # one checkpointer each: the same thread ids in both
        return {"checkpointer": InMemorySaver()} if p.checkpointer else {}

    if hasattr(built, "builder"):  # already compiled (prebuilt agents)
        plain = built.builder.compile(**saver()) if p.checkpointer else built
    else:
        plain = built.compile(**saver())
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        traced = trace_langgraph(built, check_usage=False, **saver())
    # a faithful record: no "cannot record" warning, except a pattern's known one
    said = [str(w.message) for w in seen if "trace_langgraph" in str(w.message)]
    assert said == ([] if p.warning is None else [said[0]]) and (
        p.warning is None or p.warning in said[0]
    ), said
    return plain, traced


def config(p: Pattern, thread: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if p.checkpointer:
        out["configurable"] = {"thread_id": thread}
    if p.recursion_limit:
        out["recursion_limit"] = p.recursion_limit
    return out


async def _run(graph: Any, p: Pattern, thread: str, is_async: bool, **kw: Any) -> list[Any]:
    """Every chunk of a stream (the first run and, for an interrupt, the resumed run)."""
    chunks: list[Any] = []
    for graph_input in [p.input] + ([p.resume] if p.resume is not None else []):
        if is_async:
            chunks += [c async for c in graph.astream(graph_input, config(p, thread), **kw)]
        else:
            chunks += list(graph.stream(graph_input, config(p, thread), **kw))
    return chunks


async def _invoke(graph: Any, p: Pattern, thread: str, is_async: bool) -> list[Any]:
    outs = []
    for graph_input in [p.input] + ([p.resume] if p.resume is not None else []):
        if is_async:
            outs.append(await graph.ainvoke(graph_input, config(p, thread)))
        else:
            outs.append(graph.invoke(graph_input, config(p, thread)))
    return outs


def step_writes(step: Any) -> Any:
    """What the record says a step wrote, in the shape of LangGraph's task result."""
    return step.writes


def check_record(record: LangGraphTrace, task_chunks: list[Any], final: Any) -> None:
    """The record against LangGraph's own report of the root graph's tasks."""
    started = [(ns, c) for ns, mode, c in task_chunks if mode == "tasks" and "input" in c]
    steps = {s.task_id: s for s in [*record.steps, *record.failures]}
    assert sorted(steps) == sorted(t["id"] for _, t in started), (
        [s.node for s in steps.values()], [t["name"] for _, t in started]
    )
    for ns, task in started:
        step = steps[task["id"]]
        assert step.scope == "|".join(ns)  # a subgraph's task is nested under its parent's
        assert step.node == task["name"]
        assert canon(step.state.data) == canon(task["input"]), step.node
        assert step.send == ("__pregel_push" in task["triggers"])
    for task in [c for ns, mode, c in task_chunks if mode == "tasks" and "result" in c]:
        step = steps[task["id"]]
        if task["interrupts"]:
            assert step.interrupted
            continue
        assert step.output is not None, step.node
        assert canon(step_writes(step)) == canon(task["result"]), step.node
    assert canon(record.output.data if record.output is not None else None) == canon(final)


CASES = [(make, mode) for make in PATTERNS for mode in ("sync", "async")]


@pytest.mark.parametrize(("make", "mode"), CASES, ids=[f"{m.__name__}-{a}" for m, a in CASES])
def test_pattern_runs_unchanged_and_is_recorded_exactly(make: Any, mode: str) -> None:
    p = make()
    if mode == "sync" and p.async_only:
        pytest.skip("async nodes only")
    is_async = mode == "async"
    plain, traced = graphs(p)

    async def both() -> None:
        # invoke
        model_calls: list[list[str]] = []
        outs = []
        for graph, thread in ((plain, "t1"), (traced, "t1")):
            if p.model is not None:
                p.model.methods.clear()
            outs.append(await _invoke(graph, p, thread, is_async))
            if p.model is not None:
                model_calls.append(list(p.model.methods))
        assert canon(outs[0]) == canon(outs[1])
        if model_calls:
            assert model_calls[0] == model_calls[1]  # the same methods (_agenerate when async)
        assert_clean(outs[1])
        record = last_trace()
        assert record is not None
        # every stream mode, with subgraphs
        streams = []
        for graph, thread in ((plain, "t2"), (traced, "t2")):
            streams.append(
                await _run(graph, p, thread, is_async, stream_mode=MODES, subgraphs=True)
            )
        assert_same_chunks(streams[0], streams[1])
        assert_clean(streams[1])
        record = last_trace()
        assert record is not None
        if p.checkpointer:
            cfg = config(p, "t2")
            final = traced.get_state(cfg).values
            history = [canon(s) for s in traced.get_state_history(cfg)]
            assert history == [canon(s) for s in plain.get_state_history(config(p, "t2"))]
            assert_clean(list(traced.get_state_history(cfg)))
        else:
            final = [c for ns, m, c in streams[1] if m == "values" and not ns][-1]
        if p.resume is None:
            check_record(record, streams[1], final)
        # the default stream mode, and single modes
        for single in ("updates", "values"):
            pair = [
                await _run(g, p, f"{t}-{single}", is_async, stream_mode=single)
                for g, t in ((plain, "t3"), (traced, "t3"))
            ]
            assert_same_chunks(pair[0], pair[1])

    asyncio.run(both())
