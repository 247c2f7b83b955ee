"""Scripted chat models for the tasks tests (importable by file path: `--llm
python:tests/tasks/helpers/scripted_models.py:NAME`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult


class ScriptedToolModel(BaseChatModel):
    """Replies from a script: each entry is either a tool call {"tool": name, "args": {...}}
    or a final answer text. A final answer may contain {last_tool_result}, filled from the
    latest tool message, so tests can check that results reach the model."""

    script: list[Any]
    position: int = 0
    seen: list[list[str]] = []

    @property
    def _llm_type(self) -> str:
        return "scripted-tools"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedToolModel:
        return self

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        self.seen.append([m.type for m in messages])
        entry = self.script[self.position % len(self.script)]
        self.position += 1
        if isinstance(entry, dict):
            message = AIMessage("", tool_calls=[{"name": entry["tool"], "args": entry["args"],
                                                 "id": f"call_{self.position}"}])
        else:
            tools = [m for m in messages if isinstance(m, ToolMessage)]
            last = str(tools[-1].content) if tools else ""
            message = AIMessage(str(entry).replace("{last_tool_result}", last))
        return ChatResult(generations=[ChatGeneration(message=message)])


def chat_lists_then_validates() -> ScriptedToolModel:
    return ScriptedToolModel(script=[
        {"tool": "list_tasks", "args": {"folder": "tasks/examples"}},
        {"tool": "validate_task", "args": {"path": "tasks/examples/numeric.yaml"}},
        "Validation said: {last_tool_result}",
    ])


class JsonOnlyModel(BaseChatModel):
    """A model without native tool calling that answers in the JSON protocol of
    JsonToolCaller: first a tool call, then a final answer."""

    replies: list[str] = [
        json.dumps({"tool": "list_tasks", "arguments": {"folder": "tasks/examples"},
                    "answer": ""}),
        json.dumps({"tool": "none", "arguments": {}, "answer": "There is a numeric task."}),
    ]
    position: int = 0

    @property
    def _llm_type(self) -> str:
        return "scripted-json"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        reply = self.replies[self.position % len(self.replies)]
        self.position += 1
        return ChatResult(generations=[ChatGeneration(message=AIMessage(reply))])
