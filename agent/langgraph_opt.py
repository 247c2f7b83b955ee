"""`optimize_langgraph`: optimize the parameters of a LangGraph workflow in one call.

Each optimizer step runs the traced graph on a batch of inputs, gives each final state to the
feedback function, and hands the combined feedback (per-run lines, mean score) to the
optimizer, which sees every run's recorded graph: the prompts each node read, the chat model
calls they made, the routes taken and any failing node's source.

    result = og.optimize_langgraph(
        builder, {"answer_prompt": og.node(prompt, trainable=True, name="answer_prompt")},
        inputs=[{"question": q} for q in questions],
        feedback=lambda state, example: (1.0, "ok") if ... else (0.0, "wrong because ..."),
        optimizer="optoprime", llm="openai:gpt-4o-mini", steps=5, minimize=False,
    )
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from langchain_core.runnables import RunnableConfig

from optograph.graph.bundle import bundle
from optograph.graph.errors import ExecutionError
from optograph.graph.langgraph import TracedGraph, trace_langgraph
from optograph.graph.node import Node
from optograph.graph.preview import preview

from .batching import Minibatches, takes_example
from .errors import OptimizerError
from .executor import Executor, make_executor
from .factory import OPTIMIZERS as FACTORY_NAMES
from .factory import make_optimizer
from .feedback import parse_feedback
from .loop import optimize
from .loop_state import OptimizationResult
from .optimizer import Optimizer

OPTIMIZERS = tuple(FACTORY_NAMES)


def _runs(*outputs: Any) -> list[Any]:
    """The final states of the LangGraph runs of one optimization step, in input order (a
    failed run shows its error)."""
    return list(outputs)


class BatchWorkflow:
    """The loop's workflow and feedback for a traced graph over a list of inputs: each call
    runs the next batch (cycling through the inputs) and remembers it for the feedback."""

    def __init__(
        self,
        traced: TracedGraph,
        inputs: Sequence[Any],
        feedback: Callable[..., Any],
        batch_size: int | None = None,
        context: Any = None,
        config: RunnableConfig | None = None,
        executor: Executor | None = None,
        run_async: bool | None = None,
    ) -> None:
        if not inputs:
            raise OptimizerError(
                "optimize_langgraph: inputs is empty; give at least one graph input"
            )
        self.batches = Minibatches(inputs, batch_size, f"optimize_langgraph(batch_size={batch_size})")
        self.traced = traced
        self.inputs = list(inputs)
        self.user_feedback = feedback
        self.takes_input = takes_example(feedback)
        self.context = context
        self.config = config
        self.calls = 0
        self.batch: list[Any] = []
        self.executor = executor or make_executor()
        self.run_async = has_async_nodes(traced) if run_async is None else run_async

    def next_batch(self) -> list[Any]:
        self.calls += 1
        return self.batches.batch(self.calls - 1)

    # `run_one` and `arun_one` are twins (sync / async): one traced run, its final-state node
    def run_one(self, graph_input: Any) -> Node:
        try:
            record = self.traced.trace(graph_input, self.config, context=self.context)
        except ExecutionError as error:
            return error.exception_node
        assert record.output is not None
        return record.output

    async def arun_one(self, graph_input: Any) -> Node:
        try:
            record = await self.traced.atrace(graph_input, self.config, context=self.context)
        except ExecutionError as error:
            return error.exception_node
        assert record.output is not None
        return record.output

    def workflow(self) -> Node:
        """Run the batch through the executor (async graphs through `atrace`), in order."""
        self.batch = self.next_batch()
        if self.run_async:
            outputs = run_coroutine(self.executor.amap(self.arun_one, self.batch))
        else:
            outputs = self.executor.map(self.run_one, self.batch)
        collect = bundle(_runs, name="runs", sandbox="inline")
        result: Node = collect(*outputs)
        return result

    def feedback(self, output: Node) -> Any:
        """Per-run feedback lines and the mean score of the runs that have one."""
        lines: list[str] = []
        scores: list[float] = []
        run_nodes = [parent for _, parent in output.parents]
        for index, (graph_input, run) in enumerate(zip(self.batch, run_nodes, strict=False), 1):
            label = f"run {index} (input {preview(graph_input, 120)})"
            if run.kind == "exception":
                lines.append(
                    f"{label}: the graph failed: {(run.info or {}).get('message', run.data)}"
                )
                continue
            args = (run.data, graph_input) if self.takes_input else (run.data,)
            judged = parse_feedback(self.user_feedback(*args), "optimize_langgraph: feedback")
            if judged.score is not None:
                scores.append(judged.score)
            value = judged.value
            text = value.get("feedback", value) if isinstance(value, dict) else value
            lines.append(f"{label}: {text if isinstance(text, str) else preview(text, 300)}")
        text = "\n".join(lines)
        if scores:
            return (sum(scores) / len(scores), text)
        return text


def has_async_nodes(traced: TracedGraph) -> bool:
    """Whether a node of the graph has only async code (then only `ainvoke` can run it)."""
    for spec in traced.builder.nodes.values():
        runnable = spec.runnable
        if getattr(runnable, "func", True) is None and getattr(runnable, "afunc", None):
            return True
    return False


def run_coroutine(coroutine: Any) -> Any:
    """Run a coroutine to completion from sync code, also when this thread already runs an
    event loop (then on a thread of its own)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(contextvars.copy_context().run, asyncio.run, coroutine).result()


def optimize_langgraph(
    graph: Any,
    parameters: Mapping[str, Any] | Iterable[Node] | None = None,
    *,
    inputs: Sequence[Any],
    feedback: Callable[..., Any],
    optimizer: str | Optimizer = "optoprime",
    llm: Any = None,
    steps: int = 5,
    batch_size: int | None = None,
    context: Any = None,
    config: RunnableConfig | None = None,
    optimizer_options: Mapping[str, Any] | None = None,
    trace_options: Mapping[str, Any] | None = None,
    max_concurrency: int = 1,
    executor: str | Executor | None = None,
    run_async: bool | None = None,
    **loop_options: Any,
) -> OptimizationResult:
    """Optimize a LangGraph graph's parameters (see the module docstring).

    graph: a StateGraph, a compiled graph, or a TracedGraph (then `parameters` is omitted).
    parameters: {context field: Node or value}, as for trace_langgraph.
    inputs: graph inputs; each step runs `batch_size` of them (default: all), cycling.
    feedback: feedback(final_state, graph_input) or feedback(final_state) -> text, a score,
      (score, text) or a dict with "score"; the step's feedback lists every run and its
      score is the mean.
    optimizer: "optoprime", "opro", "evolution" (then parameters need search spaces), or an
      Optimizer built on the traced graph's parameters; `llm` and `optimizer_options` go to it.
    max_concurrency, executor: how the batch's runs are evaluated (agent.executor: "local"
      threads or tasks by default, "ray"); results keep the inputs' order.
    run_async: run the graph with `atrace` (default: when a node has only async code).
    loop_options: what agent.loop.optimize takes (target, patience, minimize, checkpoint,
      thread_id, on_event, max_tokens, max_cost, restore_best)."""
    if isinstance(graph, TracedGraph):
        if parameters is not None:
            raise OptimizerError(
                f"optimize_langgraph: graph {graph.graph_name!r} is already traced with its "
                "parameters; do not pass parameters again"
            )
        traced = graph
    else:
        options = dict(trace_options or {})
        # The graph runs inside the loop's own (checkpointed) graph: do not let it inherit
        # that checkpointer unless the caller gave one.
        if getattr(graph, "checkpointer", None) is None:
            options.setdefault("checkpointer", False)
        traced = trace_langgraph(graph, parameters, **options)
    trainable = traced.parameters
    if not trainable:
        raise OptimizerError(
            f"optimize_langgraph: graph {traced.graph_name!r} has no trainable parameters"
        )
    chosen = make_optimizer(optimizer, trainable, llm, optimizer_options or {},
                            where=f"optimize_langgraph(optimizer={optimizer!r})")
    runner = make_executor(executor, max_concurrency)
    batch = BatchWorkflow(
        traced, inputs, feedback, batch_size, context, config, runner, run_async
    )
    return optimize(batch.workflow, batch.feedback, chosen, steps=steps, **loop_options)
