"""LLM(on_call=...) hears of every call as it starts and when it ends (progress displays
use it, whatever runs the calls); a failing hook never breaks a call (issue 17)."""

from __future__ import annotations

from typing import Any

import pytest
from scripted_chat import ScriptedChat

from optograph.agent.llm import LLM, CallRecord


def test_every_call_is_announced_and_reported() -> None:
    events: list[tuple[str, str, str | None, bool]] = []

    def hook(event: str, record: CallRecord) -> None:
        events.append((event, record.role, record.source, record.reply is not None))

    llm = LLM(ScriptedChat(["one", "two", RuntimeError("boom")]), role="optimizer", on_call=hook,
              max_retries=0)
    llm.invoke("a")
    llm.with_role("workflow").invoke("b")
    with pytest.raises(Exception, match="boom"):
        llm.invoke("c")
    assert events == [
        ("start", "optimizer", None, False), ("end", "optimizer", "model", True),
        ("start", "workflow", None, False), ("end", "workflow", "model", True),
        ("start", "optimizer", None, False), ("end", "optimizer", None, False),
    ]


def test_a_failing_hook_does_not_break_the_call() -> None:
    def hook(event: str, record: Any) -> None:
        raise ValueError("display gone")

    assert LLM(ScriptedChat(["fine"]), on_call=hook).invoke("a").content == "fine"
