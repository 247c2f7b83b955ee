"""Tracing overhead per LangGraph step: the same compiled graph untraced and traced
(`trace_langgraph`), measured in the same run, interleaved; the fastest of the repeats
(on a shared machine the least disturbed one: timeit's advice), the median beside it.

    nice -n 10 timeout 300 python benchmarks/langgraph_overhead.py [--repeats 25]

Targets (issue 12): <= 1.3x wall time on a 50-step graph of trivial nodes; unchanged within
noise when the nodes call a chat model. The noise is measured in the same run: a second
untraced compile of the same graph, interleaved with the other two."""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, Protocol, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.graph import END, START, StateGraph

import optograph as og


class State(TypedDict):
    n: int
    text: str


class StateNode(Protocol):
    """A node as StateGraph.add_node types it: called with the state by keyword or position."""

    def __call__(self, state: State) -> dict[str, Any]: ...


class SleepyChat(BaseChatModel):
    """A scripted chat model that takes `delay_s` per call (a fast real model)."""

    delay_s: float = 0.005

    @property
    def _llm_type(self) -> str:
        return "sleepy"

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        time.sleep(self.delay_s)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="ok"))])


def chain(steps: int, node: StateNode) -> StateGraph:
    builder = StateGraph(State)
    names = [f"n{i}" for i in range(steps)]
    for name in names:
        builder.add_node(name, node)
    builder.add_edge(START, names[0])
    for a, b in zip(names, names[1:], strict=False):
        builder.add_edge(a, b)
    builder.add_edge(names[-1], END)
    return builder


def trivial(state: State) -> dict[str, Any]:
    return {"n": state["n"] + 1}


def with_chat(model: SleepyChat) -> StateNode:
    def node(state: State) -> dict[str, Any]:
        reply = model.invoke([HumanMessage(f"step {state['n']}")])
        return {"n": state["n"] + 1, "text": str(reply.content)}

    return node


def measure(
    builder: StateGraph, repeats: int, steps: int
) -> list[tuple[float, float]]:
    """Wall times (fastest, median) of the untraced graph, the traced graph, and a second
    untraced compile of the same builder (its ratio to the first is this machine's noise)."""
    graphs = [builder.compile(), og.trace_langgraph(builder), builder.compile()]
    graph_input = {"n": 0, "text": ""}
    for graph in graphs:  # warm up
        graph.invoke(graph_input, {"recursion_limit": steps + 5})
    times: list[list[float]] = [[], [], []]
    for _ in range(repeats):
        for graph, timing in zip(graphs, times, strict=True):
            start = time.perf_counter()
            out = graph.invoke(graph_input, {"recursion_limit": steps + 5})
            timing.append(time.perf_counter() - start)
            assert out["n"] == steps
    return [(min(t), statistics.median(t)) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    cases = {
        "trivial nodes": chain(args.steps, trivial),
        "chat-model nodes (5 ms/call)": chain(args.steps, with_chat(SleepyChat())),
    }
    for label, builder in cases.items():
        (plain, plain_median), (traced, traced_median), (again, _) = measure(
            builder, args.repeats, args.steps
        )
        print(
            f"{label:30s} {args.steps} steps: untraced {plain * 1e3:7.1f} ms, traced "
            f"{traced * 1e3:7.1f} ms, ratio {traced / plain:.2f}x "
            f"(of medians {traced_median / plain_median:.2f}x), "
            f"overhead {(traced - plain) / args.steps * 1e3:.2f} ms/step; "
            f"noise (untraced again) {again / plain:.2f}x"
        )


if __name__ == "__main__":
    main()
