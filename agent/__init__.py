"""optograph.agent"""

from .llm import get_chat_model

__all__ = ["get_chat_model"]
