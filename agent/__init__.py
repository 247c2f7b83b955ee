"""optograph.agent: optimizers that read a traced graph, the LLM layer, and the loop."""

from .errors import OptimizerError
from .evolution import EvolutionaryOptimizer, Stage
from .executor import Executor, ExecutorError, NotRun, RayExecutor, make_executor
from .feedback import FeedbackResult, parse_feedback
from .langgraph_opt import optimize_langgraph
from .llm import LLM, Cassette, LLMCallError, Usage, get_chat_model
from .loop import optimize
from .loop_state import OptimizationResult
from .opro import OPRO
from .optimizer import Optimizer, apply_updates
from .optoprime import OptoPrime
from .reply_parser import Reply, ReplyFormatError, parse_reply
from .validation import ValidationError

__all__ = [
    "LLM",
    "OPRO",
    "Cassette",
    "EvolutionaryOptimizer",
    "Executor",
    "ExecutorError",
    "FeedbackResult",
    "LLMCallError",
    "NotRun",
    "OptimizationResult",
    "Optimizer",
    "OptimizerError",
    "OptoPrime",
    "Reply",
    "RayExecutor",
    "ReplyFormatError",
    "Stage",
    "Usage",
    "ValidationError",
    "apply_updates",
    "get_chat_model",
    "make_executor",
    "optimize",
    "optimize_langgraph",
    "parse_feedback",
    "parse_reply",
]
