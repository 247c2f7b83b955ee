"""Cassettes: a run recorded once replays offline with identical replies."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from optograph.agent.llm import LLM, Cassette, CassetteMissError, LLMCallError, LLMConfigError

SCHEMA = {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}


def conversation(step: int) -> list:
    return [
        SystemMessage(content="Tune x."),
        HumanMessage(content=f"step {step}: loss is {16 - step}"),
    ]


def replies() -> list[AIMessage]:
    return [
        AIMessage(
            content=json.dumps({"x": 3 + i}),
            usage_metadata={"input_tokens": 20 + i, "output_tokens": 5, "total_tokens": 25 + i},
        )
        for i in range(3)
    ]


def test_record_then_replay_offline_gives_identical_replies(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    recorder = LLM(
        GenericFakeChatModel(messages=iter(replies())), cassette=Cassette(path, mode="record")
    )
    recorded = [recorder.invoke(conversation(i), json_schema=SCHEMA, seed=0) for i in range(3)]

    # replay with a model that cannot answer anything: every reply must come from the file
    player = LLM(GenericFakeChatModel(messages=iter([])), cassette=Cassette(path, mode="replay"))
    replayed = [player.invoke(conversation(i), json_schema=SCHEMA, seed=0) for i in range(3)]

    assert replayed == recorded  # content, metadata, usage and ids all equal
    assert [r.source for r in player.log] == ["cassette"] * 3
    recorded_usage = recorder.usage.role("optimizer")
    replayed_usage = player.usage.role("optimizer")
    assert (replayed_usage.input_tokens, replayed_usage.output_tokens) == (63, 15)
    assert (recorded_usage.input_tokens, recorded_usage.output_tokens) == (63, 15)
    assert replayed_usage.cached_calls == 3 and recorded_usage.cached_calls == 0


def test_replay_by_spec_string_needs_no_integration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class ChatAnthropic(GenericFakeChatModel):  # stands in for the provider while recording
        def __init__(self, **kwargs: object) -> None:
            super().__init__(messages=iter(replies()))

    installed = types.ModuleType("langchain_anthropic")
    installed.ChatAnthropic = ChatAnthropic  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "langchain_anthropic", installed)
    path = tmp_path / "run.jsonl"
    recorder = LLM("anthropic:claude-3-5-haiku-latest", cassette=Cassette(path, mode="record"))
    recorded = recorder.invoke(conversation(0))

    monkeypatch.setitem(sys.modules, "langchain_anthropic", None)  # not installed here
    player = LLM("anthropic:claude-3-5-haiku-latest", cassette=Cassette(path, mode="replay"))
    assert player.invoke(conversation(0)) == recorded
    assert recorder.usage.role("optimizer").cost > 0  # priced from the table, in both runs
    assert player.usage.role("optimizer").cost == recorder.usage.role("optimizer").cost


def test_replay_miss_is_a_clear_error_and_sends_nothing(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    LLM(GenericFakeChatModel(messages=iter(replies())), cassette=Cassette(path, "record")).invoke(
        conversation(0)
    )
    never_called = GenericFakeChatModel(messages=iter([]))
    player = LLM(never_called, cassette=Cassette(path, mode="replay"))
    with pytest.raises(CassetteMissError) as caught:
        player.invoke(conversation(5))
    message = str(caught.value)
    assert "\n" not in message
    assert "not in cassette" in message and str(path) in message
    assert "generic-fake-chat-model" in message and "step 5" in message
    assert isinstance(caught.value, LLMCallError)
    assert player.log[-1].error is not None and player.log[-1].reply is None


def test_replay_of_a_missing_file_says_record_first(tmp_path: Path) -> None:
    with pytest.raises(LLMConfigError, match="does not exist; record it first"):
        Cassette(tmp_path / "absent.jsonl", mode="replay")


def test_auto_mode_replays_what_it_holds_and_records_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    first = LLM(GenericFakeChatModel(messages=iter(replies()[:1])), cassette=Cassette(path, "auto"))
    first.invoke(conversation(0))
    second = LLM(
        GenericFakeChatModel(messages=iter(replies()[1:2])), cassette=Cassette(path, "auto")
    )
    second.invoke(conversation(0))
    second.invoke(conversation(1))
    assert [r.source for r in second.log] == ["cassette", "model"]
    assert len(Cassette(path, "replay")) == 2


def test_half_written_last_line_is_dropped_and_recording_continues(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    LLM(
        GenericFakeChatModel(messages=iter(replies()[:1])), cassette=Cassette(path, "record")
    ).invoke(conversation(0))
    with open(path, "a") as handle:
        handle.write('{"key": "abc", "occ')  # killed mid-write
    cassette = Cassette(path, "auto")
    assert len(cassette) == 1
    llm = LLM(GenericFakeChatModel(messages=iter(replies()[1:2])), cassette=cassette)
    llm.invoke(conversation(1))
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line) for line in lines)


def test_malformed_middle_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text('not json\n{"key": "k", "occurrence": 0, "reply": {}}\n')
    with pytest.raises(LLMConfigError, match=r"run.jsonl:1: malformed entry"):
        Cassette(path, "replay")


def test_unknown_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LLMConfigError, match="unknown mode 'play'"):
        Cassette(tmp_path / "x.jsonl", mode="play")  # type: ignore[arg-type]
