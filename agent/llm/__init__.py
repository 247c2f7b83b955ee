"""optograph.agent.llm: chat models, usage accounting, cache and cassettes."""

from .cache import CallCache
from .call_record import CallEvent, CallHook, CallRecord
from .cassette import Cassette
from .client import LLM
from .errors import CassetteMissError, LLMCallError, LLMConfigError, LLMSpecError
from .local import LocalChatModel, default_gguf_path
from .spec import canonical_spec, describe_model, get_chat_model, parse_spec
from .usage import DEFAULT_PRICES, RoleUsage, Usage

__all__ = [
    "DEFAULT_PRICES",
    "LLM",
    "CallCache",
    "CallEvent",
    "CallHook",
    "CallRecord",
    "Cassette",
    "CassetteMissError",
    "LLMCallError",
    "LLMConfigError",
    "LLMSpecError",
    "LocalChatModel",
    "RoleUsage",
    "Usage",
    "canonical_spec",
    "default_gguf_path",
    "describe_model",
    "get_chat_model",
    "parse_spec",
]
