"""The record of a traced LangGraph run, on what was seen wrong (issue 12): Send payloads,
Sends that send Sends, managed values, defaults, interrupts, dead-end and deferred edges,
Command(update) after stream, list state, tool-call-only chat turns."""

from __future__ import annotations

import asyncio

from langgraph.checkpoint.memory import InMemorySaver
from langgraph_patterns import (
    async_loop,
    command_routing,
    interrupt_resume,
    list_state,
    react_handwritten,
    send_map_reduce,
    tool_command,
)

from optograph.graph.langgraph import last_trace, trace_langgraph


def edges(record) -> set[tuple[str, str]]:
    return {(e.source, e.target) for e in record.edges}


def test_each_send_branch_has_its_own_payload_and_sender() -> None:
    p = send_map_reduce()
    record = trace_langgraph(p.build()).trace(p.input)
    jokes = [s for s in record.steps if s.node == "joke"]
    assert sorted(s.state.data["subject"] for s in jokes) == ["cats", "dogs", "kittens", "owls"]
    assert len({s.state for s in jokes}) == 4 and all(s.send for s in jokes)
    kittens = next(s for s in jokes if s.state.data["subject"] == "kittens")
    cats = next(s for s in jokes if s.state.data["subject"] == "cats")
    assert [parent for _, parent in kittens.state.parents] == [cats.output]  # only its sender
    plan_route = next(r for r in record.routes if r.source == "plan")
    for step in jokes:
        if step is not kittens:
            assert [parent for _, parent in step.state.parents] == [plan_route.decision]


def test_deferred_node_keeps_edges_from_branches_of_earlier_steps() -> None:
    p = send_map_reduce()
    record = trace_langgraph(p.build()).trace(p.input)
    # LangGraph runs the deferred node once the pull tasks are done (beside the kittens Send
    # of step 3), and again after the kittens branch wrote: each run gets its own triggers
    best = [s.step for s in record.steps if s.node == "best"]
    kittens = next(s for s in record.steps if s.state.data.get("subject") == "kittens")
    assert best == [kittens.step, kittens.step + 1]
    into_best = sorted((e.step, e.source) for e in record.edges if e.target == "best")
    assert into_best == [(best[0], "joke")] * 3 + [(best[1], "joke")]
    assert ("best", "__end__") in edges(record)


def test_managed_values_are_recorded_per_step() -> None:
    p = async_loop()
    traced = trace_langgraph(p.build())
    record = asyncio.run(traced.atrace(p.input, {"recursion_limit": p.recursion_limit}))
    managed = [
        parent for s in record.steps for name, parent in s.state.parents if name == "remaining_steps"
    ]
    assert len(managed) == len(record.steps) == 3
    assert [m.data for m in managed] == [5, 4, 3]
    assert all(m.name.startswith("managed_remaining_steps") for m in managed)


def test_defaults_are_not_named_restored_without_checkpointer() -> None:
    p = list_state()
    builder = p.build()
    record = trace_langgraph(builder).trace(p.input)
    names = [parent.name for s in record.steps for _, parent in s.state.parents]
    assert not any(n.startswith("restored_") for n in names)
    assert record.output is not None and record.output.data == ["start", "one", "two after 2"]


def test_interrupted_node_is_in_the_paused_record() -> None:
    p = interrupt_resume()
    traced = trace_langgraph(p.build(), checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "1"}}
    traced.invoke(p.input, config)
    paused = last_trace()
    ask = [s for s in paused.steps if s.node == "ask"]
    assert len(ask) == 1 and ask[0].interrupted
    assert ask[0].output.data == {"__interrupt__": [{"question": "name?"}]}
    assert ("start", "ask") in edges(paused) and ("ask", "__end__") not in edges(paused)
    traced.invoke(p.resume, config)
    resumed = last_trace()
    assert resumed.output.data == traced.get_state(config).values == {"foo": "ada", "log": ["start"]}
    assert ("ask", "__end__") in edges(resumed)


def test_dead_end_node_and_command_goto_edges() -> None:
    p = command_routing()
    record = trace_langgraph(p.build()).trace(p.input)
    assert ("decide", "left") in edges(record) and ("left", "__end__") in edges(record)
    assert ("__start__", "left") not in edges(record)


def test_command_updates_reach_the_output_after_stream() -> None:
    p = tool_command()
    traced = trace_langgraph(p.build())
    chunks = list(traced.stream(p.input, stream_mode="updates"))
    assert chunks
    record = last_trace()
    assert record.output is not None and record.output.data["user"] == "ada"


def test_tool_call_only_chat_turn_shows_the_calls() -> None:
    p = react_handwritten()
    record = trace_langgraph(p.build()).trace(p.input)
    first = next(s for s in record.steps if s.node == "agent")
    (chat,) = first.chats
    assert "add(" in chat.data and '"a": 1' in chat.data and "call_a" in chat.data
