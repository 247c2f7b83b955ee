"""A chat model whose replies come from a script: a list (one reply, or an exception to raise,
per call) or a function of the messages. It records every call and its keyword arguments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult


class ScriptedChat(BaseChatModel):
    script: Any  # list[str | BaseException] or Callable[[list[BaseMessage]], str]
    calls: list[list[BaseMessage]] = []
    call_kwargs: list[dict[str, Any]] = []
    accepts_json_schema: ClassVar[bool] = True  # so the LLM layer passes json_schema through

    def __init__(self, script: list[Any] | Callable[[list[BaseMessage]], str], **kw: Any) -> None:
        super().__init__(script=script, calls=[], call_kwargs=[], **kw)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"script": "scripted"}  # the same identity across instances: cassettes replay

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        self.calls.append(list(messages))
        self.call_kwargs.append(dict(kwargs))
        if callable(self.script):
            reply = self.script(messages)
        else:
            if len(self.calls) > len(self.script):
                raise AssertionError(f"scripted model called {len(self.calls)} times; script has {len(self.script)}")
            reply = self.script[len(self.calls) - 1]
        if isinstance(reply, BaseException):
            raise reply
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=reply))])


def last_human(messages: list[BaseMessage]) -> str:
    return str([m for m in messages if m.type == "human"][-1].content)
