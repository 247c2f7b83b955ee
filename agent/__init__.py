"""optograph.agent"""

from .llm import get_chat_model
