"""Instrumenting a LangGraph StateGraph: every node and every router is wrapped so that, in a
traced run, it records itself; outside a traced run it behaves exactly as before.

A wrapper keeps the wrapped function's signature (LangGraph reads it to decide what to inject:
config, runtime, store, writer) and adds `config` when the function lacks it, so the wrapper
can find the run's record; `config` is not passed on to a function that did not ask for it."""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import warnings
from collections import defaultdict
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import run_in_executor
from langgraph.errors import GraphBubbleUp

from ..code_function import CodeFunction, Sandbox, function_source
from ..errors import GraphError
from ..node import Node
from ..op import OpInfo
from ..run import _tracing, collect_data_reads
from .params import current_reader
from .record import END, LangGraphTrace, RouteRecorder, scope_of

# The record of the traced run in progress in this thread or task. A ContextVar, not a config
# key: LangGraph hands its config back to the user (checkpoints, debug chunks), and nothing of
# optograph may appear there. LangGraph copies the context into the threads and tasks it runs
# nodes in, so a node sees the record of the run that started it.
active_recording: ContextVar[LangGraphTrace | None] = ContextVar(
    "optograph_langgraph_recording", default=None
)


def recording_of(config: RunnableConfig | None) -> LangGraphTrace | None:
    return active_recording.get()


def _where(config: RunnableConfig) -> tuple[int, str]:
    metadata = config.get("metadata") or {}
    configurable = config.get("configurable") or {}
    step = metadata.get("langgraph_step", 0)
    task_id = configurable.get("__pregel_task_id") or metadata.get("langgraph_checkpoint_ns", "")
    return int(step), str(task_id)


def _signature_with_config(fn: Callable[..., Any]) -> tuple[inspect.Signature, bool]:
    signature = inspect.signature(fn)
    if "config" in signature.parameters:
        return signature, True
    params = list(signature.parameters.values())
    extra = inspect.Parameter(
        "config", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=RunnableConfig
    )
    at = next(
        (i for i, p in enumerate(params) if p.kind is inspect.Parameter.VAR_KEYWORD), len(params)
    )
    params.insert(at, extra)
    return signature.replace(parameters=params), False


def _hidden(reads: set[Node]) -> list[Node]:
    return sorted(reads, key=lambda n: n.order)


class NodeFunction(CodeFunction):
    """A LangGraph node's function with its description, and its code parameter if any."""

    def __init__(
        self,
        name: str,
        fn: Callable[..., Any],
        code: Node | None = None,
        sandbox: Sandbox = None,
        timeout_s: float = 10.0,
        memory_mb: int = 1024,
    ) -> None:
        doc = inspect.getdoc(fn) or f"LangGraph node {name!r}."
        super().__init__(
            fn, name, doc, code, sandbox, timeout_s, memory_mb
        )


def _node_wrappers(
    call: NodeFunction, channels: frozenset[str] = frozenset()
) -> tuple[Callable[..., Any] | None, Callable[..., Any] | None]:
    signature, accepts_config = _signature_with_config(call.fn)

    def begin(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        config = kwargs.get("config") if accepts_config else kwargs.pop("config", None)
        op, fn = call.current()
        trace = recording_of(config)
        if trace is None:
            return fn, None, op
        step, task_id = _where(config or RunnableConfig())
        state = args[0] if args else None
        metadata = (config or {}).get("metadata") or {}
        send = (metadata.get("langgraph_path") or ("",))[0] == "__pregel_push"
        namespace = str(metadata.get("langgraph_checkpoint_ns", ""))
        recorder = trace.begin_step(call.name, step, task_id, state, op, send, namespace, channels)
        return fn, recorder, op

    def sync_node(*args: Any, **kwargs: Any) -> Any:
        fn, recorder, op = begin(args, kwargs)
        if recorder is None:
            return fn(*args, **kwargs)
        reader_token = current_reader.set(recorder)
        tracing_token = _tracing.set(False)
        try:
            with collect_data_reads() as reads:
                try:
                    result = fn(*args, **kwargs)
                except GraphBubbleUp as exc:
                    recorder.bubble_up(exc, _hidden(reads))
                    raise
                except Exception as exc:
                    error_line = getattr(exc, "error_line", None)
                    recorder.fail(exc, _hidden(reads), call.code, op, error_line)
                    raise
        finally:
            _tracing.reset(tracing_token)
            current_reader.reset(reader_token)
        recorder.finish(result, _hidden(reads), call.code)
        return result

    async def async_node(*args: Any, **kwargs: Any) -> Any:
        fn, recorder, op = begin(args, kwargs)
        if recorder is None:
            return await fn(*args, **kwargs)
        reader_token = current_reader.set(recorder)
        tracing_token = _tracing.set(False)
        try:
            with collect_data_reads() as reads:
                try:
                    result = await fn(*args, **kwargs)
                except GraphBubbleUp as exc:
                    recorder.bubble_up(exc, _hidden(reads))
                    raise
                except Exception as exc:
                    recorder.fail(exc, _hidden(reads), call.code, op)
                    raise
        finally:
            _tracing.reset(tracing_token)
            current_reader.reset(reader_token)
        recorder.finish(result, _hidden(reads), call.code)
        return result

    if call.is_async:
        functools.update_wrapper(async_node, call.fn)
        async_node.__signature__ = signature  # type: ignore[attr-defined]
        return None, async_node
    functools.update_wrapper(sync_node, call.fn)
    sync_node.__signature__ = signature  # type: ignore[attr-defined]
    in_executor = functools.partial(run_in_executor, None, sync_node)
    return sync_node, in_executor


def _identity(state: Any) -> Any:
    return state


def node_runnable_class() -> type:
    """The runnable LangGraph wraps a node function in, reached through its public API
    (`StateGraph.add_node`), so that no private LangGraph module is imported. Its behaviour
    (injection of config, runtime, store, writer) is what the conformance suite checks."""
    from langgraph.graph import StateGraph

    scratch: Any = StateGraph(dict)  # type: ignore[type-var]
    scratch.add_node("node", _identity)
    return type(scratch.nodes["node"].runnable)


def _runnable_function(runnable: Runnable) -> tuple[Callable[..., Any], bool] | None:
    """The user function behind a LangGraph RunnableCallable (sync first), if there is one."""
    if type(runnable) is not node_runnable_class():
        return None
    func = getattr(runnable, "func", None)
    afunc = getattr(runnable, "afunc", None)
    if func is not None and (inspect.isfunction(func) or inspect.ismethod(func)):
        return func, False
    if func is None and afunc is not None and inspect.iscoroutinefunction(afunc):
        return afunc, True
    return None


def _rebuild(
    runnable: Runnable, func: Callable[..., Any] | None, afunc: Callable[..., Any] | None
) -> Runnable:
    return node_runnable_class()(
        func,
        afunc,
        name=runnable.name,
        tags=getattr(runnable, "tags", None),
        trace=getattr(runnable, "trace", True),
        recurse=getattr(runnable, "recurse", True),
        explode_args=getattr(runnable, "explode_args", False),
        **getattr(runnable, "kwargs", {}),
    )


def _as_function(name: str, runnable: Runnable) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """A node that is some other Runnable (a subgraph, a chain): call it from a function."""

    def call(state: Any, config: RunnableConfig) -> Any:
        return runnable.invoke(state, config)

    async def acall(state: Any, config: RunnableConfig) -> Any:
        return await runnable.ainvoke(state, config)

    for fn in (call, acall):
        fn.__name__ = name
        fn.__qualname__ = name
        fn.__doc__ = (
            f"LangGraph node {name!r}: runs {type(runnable).__name__} {runnable.get_name()!r}."
        )
    return call, acall


def wrap_node(
    name: str,
    runnable: Runnable,
    code: Node | None,
    channels: frozenset[str] = frozenset(),
    **code_options: Any,
) -> Runnable:
    found = _runnable_function(runnable)
    if found is None:
        if code is not None:
            raise GraphError(
                f"graph node {name!r} is a {type(runnable).__name__}, not a function, so its "
                "code cannot be a parameter"
            )
        call, acall = _as_function(name, runnable)
        sync_fn, _ = _node_wrappers(NodeFunction(name, call), channels)
        _, async_fn = _node_wrappers(NodeFunction(name, acall), channels)
        return _rebuild(runnable, sync_fn, async_fn)
    fn, _is_async = found
    node_function = NodeFunction(name, fn, code, **code_options)
    if code is not None and not node_function.source:
        raise GraphError(
            f"graph node {name!r}: its source is not available, so its code cannot be a parameter"
        )
    sync_fn, async_fn = _node_wrappers(node_function, channels)
    afunc = getattr(runnable, "afunc", None)
    if sync_fn is not None and code is None and inspect.iscoroutinefunction(afunc):
        # a node with its own async code (prebuilt agents): ainvoke must run that, not the
        # sync code in a thread, so a traced graph calls exactly what the untraced one calls
        _, async_fn = _node_wrappers(NodeFunction(name, afunc), channels)
    return _rebuild(runnable, sync_fn, async_fn)


# -- routers -------------------------------------------------------------------------------


def _route_doc(fn: Any, source: str, ends: Mapping[Any, str] | None) -> str:
    doc = (inspect.getdoc(fn) or "").strip()
    parameter = getattr(fn, "__optograph_parameter__", None)
    if ends:
        routes = ", ".join(f"{k!r} -> {v}" for k, v in ends.items())
    else:
        routes = "any node (the router returns node names)"
    text = f"Router after {source!r}; possible routes: {routes}."
    if parameter:
        text += f" The route is chosen by parameter {parameter!r}."
    return f"{doc} {text}".strip()


def wrap_branch(source: str, branch_name: str, spec: Any) -> Any:
    """A copy of the BranchSpec whose router records its decision."""
    path: Runnable = spec.path
    found = _runnable_function(path)
    if found is not None:
        fn, is_async = found
    else:

        def fn(state: Any, config: RunnableConfig) -> Any:
            return path.invoke(state, config)

        is_async = False
    router_name = getattr(fn, "__name__", None) or branch_name
    if router_name == "<lambda>":
        router_name = branch_name
    source_text, first_line = function_source(fn)
    code_object = getattr(fn, "__code__", None)
    op = OpInfo(
        name=router_name,
        doc=_route_doc(fn, source, spec.ends),
        source=source_text,
        filename=code_object.co_filename if code_object else None,
        first_line=first_line,
    )
    signature, accepts_config = _signature_with_config(fn)

    def record(config: RunnableConfig | None, result: Any, reads: RouteRecorder) -> None:
        trace = recording_of(config)
        if trace is not None:
            step, task_id = _where(config or RunnableConfig())
            trace.record_route(
                source,
                router_name,
                step,
                task_id,
                op,
                result,
                spec.ends,
                reads.parameters_read,
                getattr(fn, "__optograph_parameter__", None),
                scope_of(
                    str(((config or {}).get("metadata") or {}).get("langgraph_checkpoint_ns", ""))
                ),
            )

    def sync_route(*args: Any, **kwargs: Any) -> Any:
        config = kwargs.get("config") if accepts_config else kwargs.pop("config", None)
        reads = RouteRecorder()
        token = current_reader.set(reads)
        try:
            result = fn(*args, **kwargs)
        finally:
            current_reader.reset(token)
        record(config, result, reads)
        return result

    async def async_route(*args: Any, **kwargs: Any) -> Any:
        config = kwargs.get("config") if accepts_config else kwargs.pop("config", None)
        reads = RouteRecorder()
        token = current_reader.set(reads)
        try:
            result = await fn(*args, **kwargs)
        finally:
            current_reader.reset(token)
        record(config, result, reads)
        return result

    chosen: Any = async_route if is_async else sync_route
    functools.update_wrapper(chosen, fn)
    chosen.__signature__ = signature
    if is_async:
        new_path = _rebuild(path, None, chosen) if found else _plain(None, chosen, router_name)
    else:
        in_executor = functools.partial(run_in_executor, None, chosen)
        new_path = (
            _rebuild(path, chosen, in_executor)
            if found
            else _plain(chosen, in_executor, router_name)
        )
    return spec._replace(path=new_path)


def _plain(func: Any, afunc: Any, name: str) -> Runnable:
    return node_runnable_class()(func, afunc, name=name, trace=True)


# -- the instrumented builder --------------------------------------------------------------


def instrument(builder: Any, code: Mapping[str, Node], **code_options: Any) -> Any:
    """A copy of the StateGraph builder with every node and router wrapped."""
    for name in code:
        if name not in builder.nodes:
            raise GraphError(
                f"code parameter for graph node {name!r}: the graph has no such node "
                f"(nodes: {', '.join(builder.nodes)})"
            )
    channels = frozenset(builder.channels)
    new = copy.copy(builder)
    new.nodes = {
        name: dataclasses.replace(
            spec,
            runnable=wrap_node(
                name,
                _traced_subgraph(name, spec.runnable),
                code.get(name),
                channels,
                **code_options,
            ),
        )
        for name, spec in builder.nodes.items()
        if name != "__default_error_handler__"  # compile() adds it again
    }
    new.branches = defaultdict(dict)
    for source, branches in builder.branches.items():
        new.branches[source] = {
            name: wrap_branch(source, name, spec) for name, spec in branches.items()
        }
    new.edges = set(builder.edges)
    new.waiting_edges = set(builder.waiting_edges)
    new.compiled = False
    return new


def _traced_subgraph(name: str, runnable: Any) -> Any:
    """A compiled StateGraph used as a node, with its own nodes instrumented (recorded as
    steps nested under the parent's step, by namespace); another Pregel graph as it is, with
    a warning that its inner nodes are not recorded."""
    from langgraph.graph.state import CompiledStateGraph
    from langgraph.pregel import Pregel

    if isinstance(runnable, CompiledStateGraph) and getattr(runnable, "builder", None):
        inner = instrument(runnable.builder, {})
        return inner.compile(
            checkpointer=runnable.checkpointer,
            store=runnable.store,
            cache=runnable.cache,
            interrupt_before=runnable.interrupt_before_nodes or None,
            interrupt_after=runnable.interrupt_after_nodes or None,
            debug=runnable.debug,
            name=runnable.name,
        )
    if isinstance(runnable, Pregel):
        warnings.warn(
            f"trace_langgraph: graph node {name!r} is a {type(runnable).__name__} graph: "
            "recorded as one step (its input and writes); its inner nodes are not recorded",
            stacklevel=4,
        )
    return runnable


def static_edges(builder: Any) -> set[tuple[str, str]]:
    return set(builder.edges)


__all__ = ["END", "active_recording", "instrument", "recording_of", "wrap_branch", "wrap_node"]
