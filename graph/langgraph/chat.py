"""Chat model calls inside traced LangGraph nodes, recorded as operations of their own.

A langchain callback handler added to the run's config sees every chat model call made
inside a node (the node's config carries it to models invoked there). The call is attributed
to the node step running in the same thread or task."""

from __future__ import annotations

import json
import threading
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage

from .params import current_reader
from .record import LangGraphTrace, StepRecorder


def message_text(message: BaseMessage) -> str:
    content = message.content
    if not isinstance(content, str):  # content blocks: keep their text parts
        parts = [c.get("text", "") if isinstance(c, dict) else str(c) for c in content]
        content = "".join(parts)
    calls = [
        f"{call.get('name')}({json.dumps(call.get('args'), sort_keys=True, default=str)}) "
        f"id={call.get('id')}"
        for call in getattr(message, "tool_calls", None) or []
    ]
    if calls:  # a turn that calls tools: the calls are the reply
        content = f"{content}\n" if content else ""
        content += "tool calls: " + "; ".join(calls)
    tool_call_id = getattr(message, "tool_call_id", None)
    if tool_call_id:
        content = f"[tool call {tool_call_id}] {content}"
    return f"{message.type}: {content}"


def _model_name(serialized: dict[str, Any] | None, kwargs: dict[str, Any]) -> str:
    metadata = kwargs.get("metadata") or {}
    name = metadata.get("ls_model_name")
    if not name and serialized:
        name = serialized.get("name") or (serialized.get("id") or [None])[-1]
    return str(name or "chat model")


class ChatCallRecorder(BaseCallbackHandler):
    """Records the chat model calls of one traced run."""

    run_inline = True  # called in the node's own thread/task, so the step is known
    # only chat model calls matter: LangChain skips this handler for everything else
    ignore_chain = True
    ignore_agent = True
    ignore_retriever = True
    ignore_retry = True
    ignore_custom_event = True

    def __init__(self, trace: LangGraphTrace) -> None:
        self.trace = trace
        self._pending: dict[UUID, tuple[StepRecorder, list[str], str]] = {}
        self._lock = threading.Lock()

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        **kwargs: Any,
    ) -> None:
        step = current_reader.get()
        if not isinstance(step, StepRecorder) or step.trace is not self.trace:
            return  # not a step of this run (an enclosing or nested traced graph's)
        texts = [message_text(m) for m in (messages[0] if messages else [])]
        with self._lock:
            self._pending[run_id] = (step, texts, _model_name(serialized, kwargs))

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            pending = self._pending.pop(run_id, None)
        if pending is None:
            return
        step, texts, model = pending
        reply = ""
        generations = getattr(response, "generations", None) or []
        if generations and generations[0]:
            first = generations[0][0]
            message = getattr(first, "message", None)
            reply = message_text(message).split(": ", 1)[1] if message is not None else first.text
        step.chat_finished(texts, reply, model)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            pending = self._pending.pop(run_id, None)
        if pending is not None:
            step, texts, model = pending
            step.chat_failed(texts, error, model)
