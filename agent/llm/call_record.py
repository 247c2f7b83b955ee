"""One logged chat-model call: what was asked, what came back, from where, and what it cost."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage

from .messages import message_fingerprint, message_text

CallSource = Literal["model", "cache", "cassette"]
CallEvent = Literal["start", "end"]


@dataclass
class CallRecord:
    """`source` says who answered: the model itself, the disk cache or a cassette. A failed
    call has `reply` None and `error` set. `tokens_estimated` is True when the model reported
    no usage and the counts were estimated from the text."""

    role: str
    model: str
    messages: list[BaseMessage]
    params: dict[str, Any]
    reply: AIMessage | None
    source: CallSource | None
    input_tokens: int = 0
    output_tokens: int = 0
    tokens_estimated: bool = False
    cost: float | None = None
    duration_s: float = 0.0
    attempts: int = 0
    error: str | None = None
    key: str = ""
    occurrence: int = 0

    @property
    def prompt(self) -> str:
        """The messages as plain text, one "type: content" block per message."""
        return "\n\n".join(f"{m.type}: {message_text(m)}" for m in self.messages)

    @property
    def reply_text(self) -> str:
        return "" if self.reply is None else message_text(self.reply)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (messages as type/content, the reply as text)."""
        return {
            "role": self.role,
            "model": self.model,
            "messages": [message_fingerprint(m) for m in self.messages],
            "params": {
                k: v if isinstance(v, str | int | float | bool | dict | list | None) else repr(v)
                for k, v in self.params.items()
            },
            "reply": None if self.reply is None else self.reply_text,
            "source": self.source,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "tokens_estimated": self.tokens_estimated,
            "cost": self.cost,
            "duration_s": self.duration_s,
            "attempts": self.attempts,
            "error": self.error,
            "key": self.key,
            "occurrence": self.occurrence,
        }


# LLM(on_call=...): called with ("start", record) before each call is answered and with
# ("end", record) after it (reply or error, duration, tokens set): progress displays use it
CallHook = Callable[[CallEvent, CallRecord], None]
