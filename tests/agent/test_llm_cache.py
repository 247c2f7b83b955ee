"""The SQLite call cache: a repeated run is answered from disk, nothing is sent twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from optograph.agent.llm import LLM, CallCache, LLMConfigError, Usage


def scripted(*replies: str) -> GenericFakeChatModel:
    """A model that can answer exactly len(replies) calls; one more raises StopIteration."""
    return GenericFakeChatModel(messages=iter([AIMessage(content=r) for r in replies]))


MESSAGES = [SystemMessage(content="You tune x."), HumanMessage(content="x=3, loss=16")]


def test_second_run_is_served_from_the_cache_without_calling_the_model(tmp_path: Path) -> None:
    path = tmp_path / "calls.sqlite"
    first = LLM(scripted("x=7"), cache=path)
    assert first.invoke(MESSAGES, temperature=0).content == "x=7"
    assert first.log[0].source == "model"

    exhausted = scripted()  # any call that reaches this model fails
    second = LLM(exhausted, cache=CallCache(path))
    reply = second.invoke(MESSAGES, temperature=0)
    assert reply.content == "x=7"
    assert second.log[0].source == "cache"
    assert second.usage.role("optimizer").cached_calls == 1


def test_different_messages_or_parameters_miss_the_cache(tmp_path: Path) -> None:
    path = tmp_path / "calls.sqlite"
    LLM(scripted("a"), cache=path).invoke(MESSAGES, temperature=0)
    llm = LLM(scripted("b", "c", "d"), cache=path)
    assert llm.invoke(MESSAGES, temperature=0.7).content == "b"
    assert llm.invoke(MESSAGES[:1], temperature=0).content == "c"
    assert llm.invoke(MESSAGES, temperature=0, json_schema={"type": "object"}).content == "d"
    assert [r.source for r in llm.log] == ["model", "model", "model"]
    assert len(CallCache(path)) == 4


def test_repeated_identical_calls_keep_distinct_replies(tmp_path: Path) -> None:
    # two candidates asked with the same prompt get two answers, and a rerun gets both back
    path = tmp_path / "calls.sqlite"
    first = LLM(scripted("one", "two"), cache=path)
    assert [first.invoke("propose").content for _ in range(2)] == ["one", "two"]
    rerun = LLM(scripted(), cache=path)
    assert [rerun.invoke("propose").content for _ in range(2)] == ["one", "two"]
    assert [r.occurrence for r in rerun.log] == [0, 1]


def test_roles_do_not_share_entries(tmp_path: Path) -> None:
    path = tmp_path / "calls.sqlite"
    usage = Usage()
    LLM(scripted("optimizer says"), cache=path, usage=usage).invoke("q")
    workflow = LLM(scripted("workflow says"), role="workflow", cache=path, usage=usage)
    assert workflow.invoke("q").content == "workflow says"


def test_unopenable_cache_is_a_one_line_error(tmp_path: Path) -> None:
    not_a_db = tmp_path / "calls.sqlite"
    not_a_db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LLMConfigError, match=r"LLM cache .*calls.sqlite: cannot open"):
        CallCache(not_a_db)
