"""LangGraph workflows as traced workflows: `trace_langgraph(graph, parameters=...)`.

The result behaves like the compiled graph (invoke, ainvoke, stream, astream, batch, the
checkpointer, config and context all work as before) and records every run as an optograph
graph (see `LangGraphTrace`): one step per executed LangGraph node with the state slice it
received and the update it returned, the routers' decisions and the edges actually taken,
loops as repeated steps, chat model calls as operations of their own, and a failing node as
an exception node holding its annotated source.

Parameters reach the nodes through the run's context: with a `context_schema` each parameter
fills the context field of its name (`runtime.context.answer_prompt`); without one the
context is a read-only mapping of the parameters (`runtime.context["answer_prompt"]`).
`parameter_route(name)` makes a router that follows a parameter, so the structure (which node
runs) can be optimized like a prompt. `code=["node"]` makes a node's code a parameter.

    traced = trace_langgraph(builder, parameters={"answer_prompt": og.node(p, trainable=True)})
    record = traced.trace({"question": "..."})       # a LangGraphTrace; record.output is a Node
    record.output.backward("the answer was wrong: ...")
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

import networkx as nx
from langchain_core.callbacks import BaseCallbackManager
from langchain_core.runnables import Runnable, RunnableConfig
from langgraph._internal._constants import CONFIG_KEY_DURABILITY

from .errors import ExecutionError, GraphError
from .langgraph_chat import ChatCallRecorder
from .langgraph_params import ParameterContext, ParameterDelivery, names_used_by, parameter_route
from .langgraph_record import LangGraphTrace, TakenEdge
from .langgraph_render import structure_graph, structure_to_dot, structure_to_mermaid
from .langgraph_wrap import RECORDING_KEY, _runnable_function, instrument
from .node import Node, node
from .run import current_run, is_tracing

__all__ = [
    "LangGraphTrace", "ParameterContext", "TakenEdge", "TracedGraph", "last_trace",
    "parameter_route", "trace_langgraph",
]

# The most recent record made in this thread or task (each context sees its own).
_last_trace: ContextVar[LangGraphTrace | None] = ContextVar("optograph_last_langgraph_trace", default=None)


def last_trace() -> LangGraphTrace | None:
    """The record of the latest traced LangGraph run in this thread or asyncio task."""
    return _last_trace.get()


class TracedGraph(Runnable):  # type: ignore[type-arg]
    """A compiled LangGraph graph whose runs are recorded (see the module docstring).
    Attributes it does not define are those of the compiled graph (`get_state`,
    `update_state`, `checkpointer`, `nodes`, ...)."""

    def __init__(
        self,
        compiled: Any,
        builder: Any,
        delivery: ParameterDelivery,
        code_parameters: Mapping[str, Node],
        graph_name: str,
    ) -> None:
        self.compiled = compiled
        self.builder = builder
        self.delivery = delivery
        self.code_parameters = dict(code_parameters)
        self.graph_name = graph_name
        self.name = graph_name
        self._aggregate = frozenset(
            key for key, channel in builder.channels.items()
            if type(channel).__name__ in ("BinaryOperatorAggregate", "Topic")
        )

    # -- parameters ------------------------------------------------------------------------
    @property
    def parameters(self) -> list[Node]:
        """Every trainable node of the graph: context parameters, then code parameters."""
        nodes = [*self.delivery.parameters.values(), *self.code_parameters.values()]
        return [n for n in nodes if n.trainable]

    @property
    def parameter_map(self) -> dict[str, Node]:
        return {**self.delivery.parameters, **{f"code:{k}": v for k, v in self.code_parameters.items()}}

    # -- running ---------------------------------------------------------------------------
    def _session(
        self, graph_input: Any, config: RunnableConfig | None, context: Any
    ) -> tuple[LangGraphTrace | None, RunnableConfig, Any]:
        run_context = self.delivery.build(context)
        base: dict[str, Any] = dict(config or {})
        if self.compiled.checkpointer is False:
            # A "sync" durability inherited from an enclosing graph (the optimization loop)
            # makes LangGraph wait on a checkpoint save that never starts without a saver.
            base["configurable"] = {**(base.get("configurable") or {}), CONFIG_KEY_DURABILITY: "async"}
        if not is_tracing():
            return None, base, run_context  # type: ignore[return-value]
        trace = LangGraphTrace(
            self.graph_name, current_run(), self.delivery.parameters, graph_input,
            self._aggregate, set(self.builder.edges), set(self.builder.waiting_edges),
        )
        base["configurable"] = {**(base.get("configurable") or {}), RECORDING_KEY: trace}
        base["callbacks"] = _with_handler(base.get("callbacks"), ChatCallRecorder())
        return trace, base, run_context  # type: ignore[return-value]

    def _finish(self, trace: LangGraphTrace | None, value: Any) -> None:
        if trace is None:
            return
        if isinstance(value, Mapping):
            keys = [str(k) for k in value if k != "__interrupt__"]
        else:
            channels = self.compiled.output_channels
            keys = [channels] if isinstance(channels, str) else list(channels)
        trace.finish(value, keys)
        _last_trace.set(trace)

    def _fail(self, trace: LangGraphTrace | None, exc: BaseException) -> None:
        if trace is None:
            return
        trace.exception = next(
            (r.exception for r in reversed(trace.failures) if r.exception is not None), None
        )
        _last_trace.set(trace)

    def invoke(
        self, input: Any, config: RunnableConfig | None = None, *, context: Any = None, **kwargs: Any
    ) -> Any:
        trace, run_config, run_context = self._session(input, config, context)
        try:
            value = self.compiled.invoke(input, run_config, context=run_context, **kwargs)
        except BaseException as exc:
            self._fail(trace, exc)
            raise
        self._finish(trace, value)
        return value

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, *, context: Any = None, **kwargs: Any
    ) -> Any:
        trace, run_config, run_context = self._session(input, config, context)
        try:
            value = await self.compiled.ainvoke(input, run_config, context=run_context, **kwargs)
        except BaseException as exc:
            self._fail(trace, exc)
            raise
        self._finish(trace, value)
        return value

    def stream(  # type: ignore[override]
        self, input: Any, config: RunnableConfig | None = None, *, context: Any = None, **kwargs: Any
    ) -> Iterator[Any]:
        trace, run_config, run_context = self._session(input, config, context)
        try:
            yield from self.compiled.stream(input, run_config, context=run_context, **kwargs)
        except GeneratorExit:
            raise
        except BaseException as exc:
            self._fail(trace, exc)
            raise
        self._finish(trace, self._final_state(trace, input, run_config))

    async def astream(  # type: ignore[override]
        self, input: Any, config: RunnableConfig | None = None, *, context: Any = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        trace, run_config, run_context = self._session(input, config, context)
        try:
            async for chunk in self.compiled.astream(input, run_config, context=run_context, **kwargs):
                yield chunk
        except GeneratorExit:
            raise
        except BaseException as exc:
            self._fail(trace, exc)
            raise
        self._finish(trace, self._final_state(trace, input, run_config))

    def _final_state(self, trace: LangGraphTrace | None, graph_input: Any, config: RunnableConfig) -> Any:
        """After a stream: the checkpointed state if there is one, else the input with the
        recorded updates applied (reducers included)."""
        if trace is None:
            return None
        if self.compiled.checkpointer and (config.get("configurable") or {}).get("thread_id"):
            return dict(self.compiled.get_state(config).values)
        state: dict[str, Any] = dict(graph_input) if isinstance(graph_input, Mapping) else {}
        for record in sorted(trace.steps, key=lambda s: (s.step, s.state.order)):
            update = record.output._data if record.output is not None else None
            if not isinstance(update, Mapping):
                continue
            for key, value in update.items():
                channel = self.builder.channels.get(key)
                operator = getattr(channel, "operator", None)
                if key in state and key in self._aggregate and operator is not None:
                    state[key] = operator(state[key], value)
                else:
                    state[key] = value
        return state

    def trace(
        self, input: Any, config: RunnableConfig | None = None, *, context: Any = None, **kwargs: Any
    ) -> LangGraphTrace:
        """Run once and return the record (its `output` is the final-state node). A failing
        node raises `ExecutionError` holding its exception node, as a failing bundle does."""
        trace, run_config, run_context = self._session(input, config, context)
        if trace is None:
            raise GraphError(f"graph {self.graph_name!r}: trace() called inside og.no_trace()")
        try:
            value = self.compiled.invoke(input, run_config, context=run_context, **kwargs)
        except Exception as exc:
            self._fail(trace, exc)
            if trace.exception is not None:
                raise ExecutionError(trace.exception) from exc
            raise
        self._finish(trace, value)
        return trace

    async def atrace(
        self, input: Any, config: RunnableConfig | None = None, *, context: Any = None, **kwargs: Any
    ) -> LangGraphTrace:
        trace, run_config, run_context = self._session(input, config, context)
        if trace is None:
            raise GraphError(f"graph {self.graph_name!r}: atrace() called inside og.no_trace()")
        try:
            value = await self.compiled.ainvoke(input, run_config, context=run_context, **kwargs)
        except Exception as exc:
            self._fail(trace, exc)
            if trace.exception is not None:
                raise ExecutionError(trace.exception) from exc
            raise
        self._finish(trace, value)
        return trace

    # -- structure -------------------------------------------------------------------------
    def structure(self, trace: LangGraphTrace | None = None) -> nx.DiGraph:
        """The static graph (`get_graph()`) merged with the edges a run took."""
        return structure_graph(self.compiled, trace)

    def to_mermaid(self, trace: LangGraphTrace | None = None) -> str:
        return structure_to_mermaid(self.structure(trace))

    def to_dot(self, trace: LangGraphTrace | None = None) -> str:
        return structure_to_dot(self.structure(trace))

    # -- behaving like the compiled graph --------------------------------------------------
    def get_graph(self, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self.compiled.get_graph(config, **kwargs)

    def get_input_schema(self, config: RunnableConfig | None = None) -> Any:
        return self.compiled.get_input_schema(config)

    def get_output_schema(self, config: RunnableConfig | None = None) -> Any:
        return self.compiled.get_output_schema(config)

    @property
    def InputType(self) -> Any:  # noqa: N802
        return self.compiled.InputType

    @property
    def OutputType(self) -> Any:  # noqa: N802
        return self.compiled.OutputType

    @property
    def config_specs(self) -> Any:
        return self.compiled.config_specs

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "compiled":
            raise AttributeError(name)
        return getattr(self.compiled, name)

    def __repr__(self) -> str:
        return f"<TracedGraph {self.graph_name}: parameters {', '.join(self.parameter_map) or 'none'}>"


def _with_handler(callbacks: Any, handler: ChatCallRecorder) -> Any:
    if callbacks is None:
        return [handler]
    if isinstance(callbacks, BaseCallbackManager):
        manager = callbacks.copy()
        manager.add_handler(handler, inherit=True)
        return manager
    return [*callbacks, handler]


# -- building ------------------------------------------------------------------------------


def _parameter_nodes(parameters: Mapping[str, Any] | Iterable[Node] | None) -> dict[str, Node]:
    if parameters is None:
        return {}
    if isinstance(parameters, Mapping):
        out: dict[str, Node] = {}
        for name, value in parameters.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise GraphError(f"parameter name {name!r} must be a Python identifier")
            out[name] = value if isinstance(value, Node) else node(value, trainable=True, name=name)
        return out
    out = {}
    for item in parameters:
        if not isinstance(item, Node):
            raise GraphError(f"parameters must be nodes or a mapping of names to values; got {item!r:.80}")
        if not item.name.isidentifier():
            raise GraphError(
                f"parameter {item.name!r} cannot name a context field; pass a mapping "
                "{field name: node} instead"
            )
        out[item.name] = item
    return out


def _split(graph: Any) -> tuple[Any, dict[str, Any], str]:
    """The builder, the compile options, and the graph's name."""
    from langgraph.graph import StateGraph
    from langgraph.graph.state import CompiledStateGraph

    if isinstance(graph, TracedGraph):
        raise GraphError(f"graph {graph.graph_name!r} is already traced")
    if isinstance(graph, CompiledStateGraph):
        options = {
            "checkpointer": graph.checkpointer,
            "store": graph.store,
            "cache": graph.cache,
            "interrupt_before": graph.interrupt_before_nodes or None,
            "interrupt_after": graph.interrupt_after_nodes or None,
            "debug": graph.debug,
            "name": graph.name,
        }
        return graph.builder, options, graph.name or "LangGraph"
    if isinstance(graph, StateGraph):
        return graph, {}, "LangGraph"
    raise GraphError(
        f"trace_langgraph() needs a StateGraph or a compiled StateGraph; got {type(graph).__name__}"
    )


def _check_usage(builder: Any, names: Sequence[str], graph_name: str) -> None:
    functions: list[Any] = []
    for spec in builder.nodes.values():
        found = _runnable_function(spec.runnable)
        if found is None:
            return  # a node we cannot read (a subgraph, a chain): no conclusion
        functions.append(found[0])
    for branches in builder.branches.values():
        for spec in branches.values():
            found = _runnable_function(spec.path)
            if found is None:
                return
            functions.append(found[0])
    used = names_used_by(functions)
    if used is None:
        return
    for name in names:
        if name not in used:
            raise GraphError(
                f"parameter {name!r} is not used by any node or router of graph {graph_name!r} "
                f"(nodes: {', '.join(builder.nodes)}); read it as runtime.context.{name}"
            )


def trace_langgraph(
    graph: Any,
    parameters: Mapping[str, Any] | Iterable[Node] | None = None,
    *,
    code: Iterable[str] | Mapping[str, Node] = (),
    code_sandbox: str = "process",
    code_timeout_s: float = 10.0,
    check_usage: bool = True,
    **compile_options: Any,
) -> TracedGraph:
    """Trace a LangGraph StateGraph (a builder or a compiled graph).

    parameters: {context field name: Node or value}; plain values become trainable nodes.
    code: graph nodes whose function source becomes a trainable parameter (`__code_<node>`);
      changed code runs in a forked process (code_sandbox="process") or in this process.
    check_usage: refuse a parameter that no node or router reads (by the names its code uses).
    compile_options: for a builder, what `StateGraph.compile` takes (checkpointer, store,
      interrupt_before, ...); for a compiled graph they replace its own."""
    builder, options, graph_name = _split(graph)
    options.update(compile_options)
    graph_name = options.get("name") or graph_name
    if code_sandbox not in ("process", "inline"):
        raise GraphError(f"trace_langgraph(code_sandbox={code_sandbox!r}): expected 'process' or 'inline'")
    params = _parameter_nodes(parameters)
    if isinstance(code, Mapping):
        code_params = dict(code)
    else:
        code_params = {}
        for name in code:
            spec = builder.nodes.get(name)
            found = _runnable_function(spec.runnable) if spec is not None else None
            source = ""
            if found is not None:
                from .bundle import function_source

                source = function_source(found[0])[0]
            code_params[name] = node(
                source, trainable=True, name=f"__code_{name}",
                description=f"the code of the function of LangGraph node {name}",
            )
    delivery = ParameterDelivery(params, builder.context_schema, graph_name)
    if check_usage and params:
        _check_usage(builder, list(params), graph_name)
    instrumented = instrument(
        builder, code_params, sandbox=code_sandbox, timeout_s=code_timeout_s
    )
    try:
        compiled = instrumented.compile(**options)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise GraphError(f"graph {graph_name!r} does not compile: {first}") from None
    return TracedGraph(compiled, instrumented, delivery, code_params, graph_name)
