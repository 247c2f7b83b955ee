"""TracedGraph: a compiled LangGraph graph whose runs are recorded, and that otherwise
behaves like the compiled graph (see optograph.graph.langgraph)."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

import networkx as nx
from langchain_core.callbacks import BaseCallbackManager
from langchain_core.runnables import Runnable, RunnableConfig

from ..errors import ExecutionError, GraphError
from ..node import Node
from ..run import current_run, is_tracing
from .chat import ChatCallRecorder
from .params import ParameterDelivery
from .record import LangGraphTrace
from .render import structure_graph, structure_to_dot, structure_to_mermaid
from .streaming import SKIP, StreamPlan
from .wrap import active_recording

# The most recent record made in this thread or task (each context sees its own).
_last_trace: ContextVar[LangGraphTrace | None] = ContextVar(
    "optograph_last_langgraph_trace", default=None
)


# The config key LangGraph reads a run's durability from (inherited from an enclosing graph).
_DURABILITY_KEY = "__pregel_durability"


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
            key
            for key, channel in builder.channels.items()
            if type(channel).__name__ in ("BinaryOperatorAggregate", "Topic")
        )

    @functools.cached_property
    def _shape(self) -> tuple[frozenset[str], frozenset[str], frozenset[str], frozenset[str]]:
        """The graph's channels, managed values, deferred nodes, nodes with outgoing edges."""
        builder = self.builder
        deferred = [name for name, spec in builder.nodes.items() if getattr(spec, "defer", False)]
        with_edges = [s for s, _ in builder.edges]
        with_edges += [s for starts, _ in builder.waiting_edges for s in starts]
        with_edges += list(builder.branches)
        return (
            frozenset(builder.channels),
            frozenset(getattr(builder, "managed", {}) or {}),
            frozenset(deferred),
            frozenset(with_edges),
        )

    # -- parameters ------------------------------------------------------------------------
    @property
    def parameters(self) -> list[Node]:
        """Every trainable node of the graph: context parameters, then code parameters."""
        nodes = [*self.delivery.parameters.values(), *self.code_parameters.values()]
        return [n for n in nodes if n.trainable]

    @property
    def parameter_map(self) -> dict[str, Node]:
        return {
            **self.delivery.parameters,
            **{f"code:{k}": v for k, v in self.code_parameters.items()},
        }

    # -- running ---------------------------------------------------------------------------
    def _session(
        self, graph_input: Any, config: RunnableConfig | None, context: Any
    ) -> tuple[LangGraphTrace | None, RunnableConfig, Any]:
        run_context = self.delivery.build(context)
        base: dict[str, Any] = dict(config or {})
        if self.compiled.checkpointer is False:
            # A "sync" durability inherited from an enclosing graph (the optimization loop)
            # makes LangGraph wait on a checkpoint save that never starts without a saver.
            base["configurable"] = {
                **(base.get("configurable") or {}),
                _DURABILITY_KEY: "async",
            }
        if not is_tracing():
            return None, base, run_context  # type: ignore[return-value]
        trace = LangGraphTrace(
            self.graph_name,
            current_run(),
            self.delivery.parameters,
            graph_input,
            self._aggregate,
            set(self.builder.edges),
            set(self.builder.waiting_edges),
        )
        trace.owner = self
        trace.channels, trace.managed, trace.deferred, trace.with_edges = self._shape
        trace.checkpointed = self._checkpointed(base)
        base["callbacks"] = _with_handler(base.get("callbacks"), ChatCallRecorder(trace))
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
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        context: Any = None,
        **kwargs: Any,
    ) -> Any:
        trace, run_config, run_context = self._session(input, config, context)
        token = active_recording.set(trace)
        try:
            value = self.compiled.invoke(input, run_config, context=run_context, **kwargs)
        except BaseException as exc:
            self._fail(trace, exc)
            raise
        finally:
            active_recording.reset(token)
        self._finish(trace, self._final_state(trace, value, run_config))
        return value

    async def ainvoke(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        context: Any = None,
        **kwargs: Any,
    ) -> Any:
        trace, run_config, run_context = self._session(input, config, context)
        token = active_recording.set(trace)
        try:
            value = await self.compiled.ainvoke(input, run_config, context=run_context, **kwargs)
        except BaseException as exc:
            self._fail(trace, exc)
            raise
        finally:
            active_recording.reset(token)
        self._finish(trace, await self._afinal_state(trace, value, run_config))
        return value

    # stream and astream are twins (sync / async): same plan, same record
    def stream(  # type: ignore[override]
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        context: Any = None,
        **kwargs: Any,
    ) -> Iterator[Any]:
        trace, run_config, run_context = self._session(input, config, context)
        plan = StreamPlan(kwargs, self.compiled.stream_mode) if trace is not None else None
        asked = plan.kwargs if plan is not None else kwargs
        token = active_recording.set(trace)
        try:
            chunks = self.compiled.stream(input, run_config, context=run_context, **asked)
        finally:
            active_recording.reset(token)
        while True:
            token = active_recording.set(trace)
            try:
                chunk = next(chunks)
            except StopIteration:
                break
            except BaseException as exc:
                self._fail(trace, exc)
                raise
            finally:
                active_recording.reset(token)
            out = plan.take(chunk) if plan is not None else chunk
            if out is not SKIP:
                yield out
        if plan is not None:
            final = plan.final if plan.seen_final else None
            self._finish(trace, self._final_state(trace, final, run_config))

    async def astream(  # type: ignore[override]
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        context: Any = None,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        trace, run_config, run_context = self._session(input, config, context)
        plan = StreamPlan(kwargs, self.compiled.stream_mode) if trace is not None else None
        asked = plan.kwargs if plan is not None else kwargs
        token = active_recording.set(trace)
        try:
            chunks = self.compiled.astream(input, run_config, context=run_context, **asked)
        finally:
            active_recording.reset(token)
        while True:
            token = active_recording.set(trace)
            try:
                chunk = await chunks.__anext__()
            except StopAsyncIteration:
                break
            except BaseException as exc:
                self._fail(trace, exc)
                raise
            finally:
                active_recording.reset(token)
            out = plan.take(chunk) if plan is not None else chunk
            if out is not SKIP:
                yield out
        if plan is not None:
            final = plan.final if plan.seen_final else None
            self._finish(trace, await self._afinal_state(trace, final, run_config))

    def _checkpointed(self, config: Mapping[str, Any]) -> bool:
        return bool(self.compiled.checkpointer) and bool(
            (config.get("configurable") or {}).get("thread_id")
        )

    def _final_state(self, trace: LangGraphTrace | None, value: Any, config: RunnableConfig) -> Any:
        """The state the run ended with: the checkpointed state where there is one, else
        what LangGraph returned (or streamed last as "values")."""
        if trace is not None and self._checkpointed(config):
            return self.compiled.get_state(config).values
        return value

    async def _afinal_state(
        self, trace: LangGraphTrace | None, value: Any, config: RunnableConfig
    ) -> Any:
        """Twin of `_final_state` for the async path (the saver's async methods)."""
        if trace is not None and self._checkpointed(config):
            return (await self.compiled.aget_state(config)).values
        return value

    def trace(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        context: Any = None,
        **kwargs: Any,
    ) -> LangGraphTrace:
        """Run once and return the record (its `output` is the final-state node). A failing
        node raises `ExecutionError` holding its exception node, as a failing bundle does."""
        trace, run_config, run_context = self._session(input, config, context)
        if trace is None:
            raise GraphError(f"graph {self.graph_name!r}: trace() called inside og.no_trace()")
        token = active_recording.set(trace)
        try:
            value = self.compiled.invoke(input, run_config, context=run_context, **kwargs)
        except Exception as exc:
            self._fail(trace, exc)
            if trace.exception is not None:
                raise ExecutionError(trace.exception) from exc
            raise
        finally:
            active_recording.reset(token)
        self._finish(trace, self._final_state(trace, value, run_config))
        return trace

    async def atrace(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        context: Any = None,
        **kwargs: Any,
    ) -> LangGraphTrace:
        trace, run_config, run_context = self._session(input, config, context)
        if trace is None:
            raise GraphError(f"graph {self.graph_name!r}: atrace() called inside og.no_trace()")
        token = active_recording.set(trace)
        try:
            value = await self.compiled.ainvoke(input, run_config, context=run_context, **kwargs)
        except Exception as exc:
            self._fail(trace, exc)
            if trace.exception is not None:
                raise ExecutionError(trace.exception) from exc
            raise
        finally:
            active_recording.reset(token)
        self._finish(trace, await self._afinal_state(trace, value, run_config))
        return trace

    def last_trace(self) -> LangGraphTrace | None:
        """The record of this graph's latest traced run in this thread or asyncio task."""
        record = _last_trace.get()
        return record if record is not None and record.owner is self else None

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
        return (
            f"<TracedGraph {self.graph_name}: parameters {', '.join(self.parameter_map) or 'none'}>"
        )


def _with_handler(callbacks: Any, handler: ChatCallRecorder) -> Any:
    if callbacks is None:
        return [handler]
    if isinstance(callbacks, BaseCallbackManager):
        manager = callbacks.copy()
        manager.add_handler(handler, inherit=True)
        return manager
    return [*callbacks, handler]
