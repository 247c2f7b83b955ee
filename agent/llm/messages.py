"""Messages as data: the key of a call, replies to and from JSON, and a token estimate.

A call's key is a hash of everything that decides its reply (model identity, role, messages,
parameters) and of nothing else (no message ids, no timestamps), so the same call made in
another run, process or machine has the same key."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, message_to_dict, messages_from_dict
from pydantic import BaseModel


def _json_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    return repr(value)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=_json_default)


def message_fingerprint(message: BaseMessage) -> dict[str, Any]:
    """The parts of a message a model sees: its type, content, name and tool calls."""
    fingerprint: dict[str, Any] = {"type": message.type, "content": message.content}
    if message.name:
        fingerprint["name"] = message.name
    tool_calls = getattr(message, "tool_calls", None)
    if tool_calls:
        fingerprint["tool_calls"] = [
            {"name": call["name"], "args": call["args"]} for call in tool_calls
        ]
    tool_call_id = getattr(message, "tool_call_id", None)
    if tool_call_id:
        fingerprint["tool_call_id"] = tool_call_id
    return fingerprint


def call_key(
    model: str, role: str, messages: Sequence[BaseMessage], params: Mapping[str, Any]
) -> str:
    request = {
        "model": model,
        "role": role,
        "messages": [message_fingerprint(message) for message in messages],
        "params": dict(params),
    }
    return hashlib.sha256(canonical_json(request).encode("utf-8")).hexdigest()


def reply_to_json(reply: AIMessage) -> str:
    return json.dumps(message_to_dict(reply), sort_keys=True, default=_json_default)


def reply_from_json(text: str) -> AIMessage:
    (message,) = messages_from_dict([json.loads(text)])
    if not isinstance(message, AIMessage):
        raise ValueError(f"stored reply is a {message.type} message, not an AI message")
    return message


def as_ai_message(reply: Any) -> AIMessage:
    """An AIMessage for whatever a chat model returned (a chunk, another message, a string),
    normalised through JSON so a live reply equals its replay exactly."""
    if isinstance(reply, str):
        reply = AIMessage(content=reply)
    elif isinstance(reply, BaseMessage) and (
        not isinstance(reply, AIMessage) or type(reply) is not AIMessage
    ):
        data = {
            key: getattr(reply, key)
            for key in ("content", "additional_kwargs", "response_metadata", "name", "id")
        }
        if isinstance(reply, AIMessage):
            data["usage_metadata"] = reply.usage_metadata
            data["tool_calls"] = reply.tool_calls
        reply = AIMessage(**data)
    if not isinstance(reply, AIMessage):
        raise TypeError(f"chat model returned {type(reply).__name__}, not a message")
    return reply_from_json(reply_to_json(reply))


def message_text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(
        block if isinstance(block, str) else str(block.get("text", ""))
        for block in content
        if isinstance(block, str | dict)
    )


def estimate_tokens(texts: Sequence[str]) -> int:
    """About four characters a token (English text, common tokenizers), plus a few tokens of
    framing per message; used only when a model reports no usage."""
    return sum(math.ceil(len(text) / 4) + 4 for text in texts)
