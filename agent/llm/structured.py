"""Asking a chat model behind an API for a reply that follows a JSON schema, through
LangChain's structured-output API (`with_structured_output(schema, method=...,
include_raw=True)`): OpenAI-compatible servers, vLLM and Ollama take the schema as a
response format ("json_schema"), Anthropic and servers without that take it as a forced tool
call ("function_calling"). The reply comes back as an AIMessage whose text is the JSON
object, so the cache, cassettes and the tolerant reply parser treat it like any reply.

Where a model supports neither (no tool binding, a server that rejects the request), the
caller falls back to a plain call and the tolerant parser."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import BaseModel

from .messages import message_text

SCHEMA_TITLE = "optimizer_reply"
# providers whose structured output is a forced tool call (the others try the response format first)
_TOOL_FIRST = {"anthropic"}


class StructuredOutputUnsupported(Exception):
    """The model cannot take this request as structured output (use a plain call)."""


def structured_methods(model: BaseChatModel, provider: str) -> list[str]:
    """The structured-output methods worth trying for `model`, best first; none for models
    that take the schema themselves (`accepts_json_schema`, the embedded local model) or
    that implement no tool binding (LangChain's base class then has no structured output)."""
    if getattr(type(model), "accepts_json_schema", False):
        return []
    no_tools = type(model).bind_tools is BaseChatModel.bind_tools
    if no_tools and type(model).with_structured_output is BaseChatModel.with_structured_output:
        return []
    if provider in _TOOL_FIRST:
        return ["function_calling"]
    return ["json_schema", "function_calling"]


def titled(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with the title and description LangChain needs to name it (a tool or a
    response format must have a name)."""
    named = dict(schema)
    named.setdefault("title", SCHEMA_TITLE)
    named.setdefault("description", "The optimizer's reply: reasoning, answer, suggestion.")
    return named


def with_params(model: BaseChatModel, params: dict[str, Any]) -> BaseChatModel:
    """A copy of `model` with call parameters (temperature, max_tokens, ...) set as its
    fields: a structured-output runnable does not pass call keywords on to the model."""
    if not params:
        return model
    fields = type(model).model_fields
    unknown = [key for key in params if key not in fields]
    if unknown:
        raise StructuredOutputUnsupported(f"call parameters {unknown} are not fields of the model")
    return model.model_copy(update=params)


def invoke_structured(model: BaseChatModel, messages: Sequence[BaseMessage],
                      schema: dict[str, Any], method: str) -> AIMessage:
    """One call asking for `schema` by `method`; the reply's text is the JSON object (or the
    raw reply when the model's output could not be read as one). StructuredOutputUnsupported
    when the model cannot build such a request."""
    try:
        runnable = model.with_structured_output(titled(schema), method=method,  # type: ignore[call-arg]
                                                include_raw=True)
    except (NotImplementedError, ValueError, TypeError) as error:
        raise StructuredOutputUnsupported(str(error)) from error
    result = runnable.invoke(list(messages))
    return reply_message(result)


def reply_message(result: Any) -> AIMessage:
    """The AIMessage of a structured-output result ({"raw", "parsed", "parsing_error"})."""
    if not isinstance(result, dict):
        return AIMessage(content=_text_of(result))
    raw = result.get("raw")
    parsed = result.get("parsed")
    if isinstance(parsed, BaseModel):
        parsed = parsed.model_dump()
    if parsed is not None:
        text = _text_of(parsed)
    elif isinstance(raw, AIMessage) and raw.tool_calls:
        text = _text_of(raw.tool_calls[0].get("args", {}))
    elif isinstance(raw, BaseMessage):
        text = message_text(raw)
    else:
        text = ""
    if isinstance(raw, AIMessage):
        return AIMessage(content=text, usage_metadata=raw.usage_metadata,
                         response_metadata=raw.response_metadata)
    return AIMessage(content=text)


def _text_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=repr)
