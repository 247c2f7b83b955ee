"""The LangGraph adapter: trace a LangGraph StateGraph (`trace_langgraph`) and read the record.

A wing on top of the engine (optograph.graph); the engine never imports it."""

from .edges import TakenEdge
from .params import ParameterContext, parameter_route
from .record import LangGraphTrace
from .runnable import TracedGraph, last_trace
from .trace import trace_langgraph

__all__ = [
    "LangGraphTrace",
    "ParameterContext",
    "TakenEdge",
    "TracedGraph",
    "last_trace",
    "parameter_route",
    "trace_langgraph",
]
