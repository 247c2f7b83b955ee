"""Prompt optimization: a chat model answers short questions with the `prompt` parameter as
its system message; the feedback (exact match after normalising) says which answers were
wrong and what they should have been."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage

import optograph as og


@og.bundle()
def ask_model(prompt: str, question: str, llm: Any) -> str:
    """Ask the chat model `question` with `prompt` as its system message; return the reply
    text, stripped of spaces and a final period."""
    reply = llm.invoke([SystemMessage(prompt), HumanMessage(question)])
    text = reply.content if isinstance(reply.content, str) else str(reply.content)
    return text.strip().rstrip(".").strip()


def answer(prompt: og.Node, example: dict[str, Any], llm: Any) -> og.Node:
    """The workflow: one question of the data set, answered under the prompt."""
    return ask_model(prompt, example["question"], llm)
