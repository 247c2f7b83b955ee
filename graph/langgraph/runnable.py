"""TracedGraph: a compiled LangGraph graph whose runs are recorded, and that otherwise
behaves like the compiled graph (see optograph.graph.langgraph)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

import networkx as nx
from langchain_core.callbacks import BaseCallbackManager
from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.types import Command, StateSnapshot

from ..errors import ExecutionError, GraphError
from ..node import Node
from ..run import current_run, is_tracing
from .chat import ChatCallRecorder
from .params import ParameterDelivery
from .record import LangGraphTrace
from .render import structure_graph, structure_to_dot, structure_to_mermaid
from .shape import shape_of
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
        self.shape = shape_of(builder)

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
            self.shape,
        )
        trace.owner = self
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
        self._note_resume(trace, input, run_config)
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
        await self._anote_resume(trace, input, run_config)
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
        self._note_resume(trace, input, run_config)
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
        await self._anote_resume(trace, input, run_config)
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

    # _note_resume and _anote_resume are twins (sync / async saver methods)
    def _note_resume(self, trace: LangGraphTrace | None, graph_input: Any, config: Any) -> None:
        """Before a run that resumes a checkpoint: the tasks pending there (which this run
        continues rather than reaches through an edge)."""
        if trace is not None and self._checkpointed(config) and _resuming(graph_input):
            trace.resumed_tasks = _pending(self.compiled.get_state(config, subgraphs=True))

    async def _anote_resume(
        self, trace: LangGraphTrace | None, graph_input: Any, config: Any
    ) -> None:
        if trace is not None and self._checkpointed(config) and _resuming(graph_input):
            snapshot = await self.compiled.aget_state(config, subgraphs=True)
            trace.resumed_tasks = _pending(snapshot)

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
        self._note_resume(trace, input, run_config)
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
        await self._anote_resume(trace, input, run_config)
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


def _resuming(graph_input: Any) -> bool:
    """Whether a run's input continues a checkpoint: None, or Command(resume=...)."""
    return graph_input is None or (
        isinstance(graph_input, Command) and graph_input.resume is not None
    )


def _pending(snapshot: Any) -> frozenset[str]:
    """The ids of the tasks pending in a state snapshot, its subgraphs' included."""
    ids: set[str] = set()
    for task in snapshot.tasks:
        ids.add(task.id)
        if isinstance(task.state, StateSnapshot):
            ids |= _pending(task.state)
    return frozenset(ids)


def _with_handler(callbacks: Any, handler: ChatCallRecorder) -> Any:
    if callbacks is None:
        return [handler]
    if isinstance(callbacks, BaseCallbackManager):
        manager = callbacks.copy()
        manager.add_handler(handler, inherit=True)
        return manager
    return [*callbacks, handler]
