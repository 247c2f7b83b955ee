"""optograph.graph: the trace graph engine (no torch, no LLM client)."""

from . import operators as _operators  # noqa: F401  (installs the traced operators on Node)
from .bundle import Bundle, bundle
from .errors import ExecutionError, GraphError, HiddenInputError, OptographError, RunAbortedError
from .module import Module, model
from .networkx_view import to_networkx
from .node import Feedback, Node, node
from .op import OpInfo
from .operators import pack
from .params_io import load_parameters, parameters_to_dict, save_parameters
from .render import to_dot, to_json, to_mermaid
from .run import Run, current_run, no_trace
from .sandbox import SandboxConfig, SandboxError, SandboxUnavailable
from .search_space import Choice, FloatRange, IntRange, SearchSpace
from .summary import Summary, Variable, feedback_outputs, minimal_subgraph, summarize

__all__ = [
    "Bundle", "Choice", "ExecutionError", "Feedback", "FloatRange", "GraphError",
    "HiddenInputError", "IntRange", "Module", "Node", "OpInfo", "OptographError", "Run",
    "RunAbortedError",
    "SandboxConfig", "SandboxError", "SandboxUnavailable", "SearchSpace", "Summary", "Variable",
    "bundle", "current_run", "feedback_outputs", "load_parameters", "minimal_subgraph", "model",
    "no_trace", "node", "pack",
    "parameters_to_dict", "save_parameters", "summarize", "to_dot", "to_json",
    "to_mermaid", "to_networkx",
]
