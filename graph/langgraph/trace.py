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

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import GraphError
from ..node import Node, node
from ..sandbox import sandbox_config
from .params import ParameterDelivery, names_used_by
from .runnable import TracedGraph
from .wrap import _runnable_function, instrument

__all__ = ["trace_langgraph"]

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
            raise GraphError(
                f"parameters must be nodes or a mapping of names to values; got {item!r:.80}"
            )
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
    code_sandbox: Any = None,
    code_timeout_s: float = 10.0,
    check_usage: bool = True,
    **compile_options: Any,
) -> TracedGraph:
    """Trace a LangGraph StateGraph (a builder or a compiled graph).

    parameters: {context field name: Node or value}; plain values become trainable nodes.
    code: graph nodes whose function source becomes a trainable parameter (`__code_<node>`);
      changed code runs in the sandbox (code_sandbox: None or "bwrap", "process", "inline",
      or a SandboxConfig; docs/sandbox.md): the state goes in as JSON, the runtime as a
      read-only view of its data (runtime.context works; a store does not).
    check_usage: refuse a parameter that no node or router reads (by the names its code uses).
    compile_options: for a builder, what `StateGraph.compile` takes (checkpointer, store,
      interrupt_before, ...); for a compiled graph they replace its own."""
    builder, options, graph_name = _split(graph)
    options.update(compile_options)
    graph_name = options.get("name") or graph_name
    code_sandbox = sandbox_config(code_sandbox, "trace_langgraph", code_timeout_s)
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
                from ..bundle import function_source

                source = function_source(found[0])[0]
            code_params[name] = node(
                source,
                trainable=True,
                name=f"__code_{name}",
                description=f"the code of the function of LangGraph node {name}",
            )
    delivery = ParameterDelivery(params, builder.context_schema, graph_name)
    if check_usage and params:
        _check_usage(builder, list(params), graph_name)
    instrumented = instrument(builder, code_params, sandbox=code_sandbox, timeout_s=code_timeout_s)
    try:
        compiled = instrumented.compile(**options)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise GraphError(f"graph {graph_name!r} does not compile: {first}") from None
    return TracedGraph(compiled, instrumented, delivery, code_params, graph_name)
