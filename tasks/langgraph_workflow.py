"""`workflow: {langgraph: module:builder, output: key}`: a LangGraph StateGraph as the task's
workflow. The builder (called with the run's LLM when it takes an `llm` argument) returns a
StateGraph; its parameters reach the nodes through the run's context (`trace_langgraph`);
each example (its keys that are state keys) is the graph's input; the output is the final
state, or one key of it."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import optograph.graph as og

from .errors import TaskError
from .references import resolve_reference
from .task_file import LangGraphWorkflow, Task


def langgraph_workflow(spec: LangGraphWorkflow, task: Task, names: list[str]) -> Callable[..., Any]:
    where = task.where("workflow", "langgraph")
    builder_fn = resolve_reference(spec.langgraph, task.folder, where)
    if not callable(builder_fn):
        raise TaskError(f"{where}: {spec.langgraph!r} is {type(builder_fn).__name__}, not a function")
    try:
        takes_llm = "llm" in inspect.signature(builder_fn).parameters
    except (TypeError, ValueError):
        takes_llm = False

    def build(llm: Any) -> Any:
        try:
            builder = builder_fn(llm) if takes_llm else builder_fn()
        except Exception as exc:
            raise TaskError(f"{where}: building the graph failed: {type(exc).__name__}: {exc}") from None
        if not hasattr(builder, "channels") or not hasattr(builder, "compile"):
            raise TaskError(f"{where}: {spec.langgraph!r} returned {type(builder).__name__}, "
                            "not a LangGraph StateGraph")
        return builder

    def workflow(example: Any = None, llm: Any = None, **parameters: og.Node) -> og.Node:
        from optograph.graph.langgraph import trace_langgraph

        builder = build(llm)
        traced = trace_langgraph(builder, parameters, checkpointer=False)
        if isinstance(example, dict):
            graph_input = {k: v for k, v in example.items() if k in builder.channels}
        else:
            graph_input = example
        record = traced.trace(graph_input)
        output = record.output
        if output is None:
            raise TaskError(f"{where}: the graph produced no final state")
        if spec.output is not None:
            if not isinstance(output.data, dict) or spec.output not in output.data:
                raise TaskError(f"{where}: the final state has no key {spec.output!r}")
            return output[spec.output]  # type: ignore[no-any-return]
        return output

    # the runner passes `llm` only to workflows that name it, and `example` when there is data
    workflow.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("example", inspect.Parameter.KEYWORD_ONLY, default=None),
         inspect.Parameter("llm", inspect.Parameter.KEYWORD_ONLY, default=None),
         *(inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY) for n in names)]
    )
    return workflow
