"""Model specs: what get_chat_model accepts, what it builds, and its one-line errors."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

import optograph as og
from optograph.agent.llm import (
    LLM,
    LLMConfigError,
    LLMSpecError,
    canonical_spec,
    describe_model,
    get_chat_model,
    parse_spec,
)
from optograph.graph.errors import OptographError


def test_chat_model_object_passes_through_unchanged() -> None:
    model = FakeListChatModel(responses=["hi"])
    assert get_chat_model(model) is model
    assert og.get_chat_model(model) is model  # the top-level lazy export reaches the same function


def test_settings_with_a_model_object_are_refused() -> None:
    with pytest.raises(LLMSpecError, match="spec strings only"):
        get_chat_model(FakeListChatModel(responses=["hi"]), temperature=0.5)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, ("local", None)),
        ("local", ("local", None)),
        (" LOCAL ", ("local", None)),
        ("local:/models/x.gguf", ("local", "/models/x.gguf")),
        ("openai:gpt-4o-mini", ("openai", "gpt-4o-mini")),
        ("Anthropic:claude-3-5-haiku-latest", ("anthropic", "claude-3-5-haiku-latest")),
        ("ollama:llama3.2:1b", ("ollama", "llama3.2:1b")),  # ollama tags keep their colon
    ],
)
def test_parse_spec(spec: str | None, expected: tuple[str, str | None]) -> None:
    assert parse_spec(spec) == expected


@pytest.mark.parametrize("spec", ["", "gpt-4o", "openai:", ":gpt-4o", "   "])
def test_malformed_spec_is_one_line_error_naming_it(spec: str) -> None:
    with pytest.raises(LLMSpecError) as caught:
        get_chat_model(spec)
    message = str(caught.value)
    assert "\n" not in message
    assert repr(spec) in message and "malformed" in message
    assert isinstance(caught.value, OptographError) and isinstance(caught.value, ValueError)


def test_unknown_provider_names_spec_and_provider() -> None:
    with pytest.raises(LLMSpecError, match=r"'mistral:large'.*unknown provider 'mistral'"):
        get_chat_model("mistral:large")


def test_non_string_spec_names_its_type() -> None:
    with pytest.raises(LLMSpecError, match="got int"):
        get_chat_model(42)  # type: ignore[arg-type]


def test_bad_spec_fails_when_the_llm_is_built_not_at_first_call() -> None:
    with pytest.raises(LLMSpecError, match="unknown provider"):
        LLM("nope:model")


def test_missing_integration_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "langchain_anthropic", None)  # import now fails
    with pytest.raises(LLMConfigError) as caught:
        get_chat_model("anthropic:claude-3-5-haiku-latest")
    message = str(caught.value)
    assert "langchain-anthropic" in message and "pip install 'optograph[llm]'" in message
    assert "\n" not in message


def test_provider_integration_is_imported_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[dict[str, object]] = []

    class ChatOpenAI(FakeListChatModel):
        def __init__(self, **kwargs: object) -> None:
            built.append(kwargs)
            super().__init__(responses=["ok"])

    fake_module = types.ModuleType("langchain_openai")
    fake_module.ChatOpenAI = ChatOpenAI  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "langchain_openai", fake_module)
    llm = LLM("openai:gpt-4o-mini")
    assert built == []  # nothing built until a call needs the model
    model = get_chat_model("openai:gpt-4o-mini", temperature=0.2)
    assert isinstance(model, ChatOpenAI)
    assert built == [{"model": "gpt-4o-mini", "temperature": 0.2}]
    assert llm.invoke("hello").content == "ok"
    assert built[-1] == {"model": "gpt-4o-mini"}


def test_provider_constructor_failure_is_one_line_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class ChatOllama:
        def __init__(self, **kwargs: object) -> None:
            raise RuntimeError("no server configured\nsecond line")

    fake_module = types.ModuleType("langchain_ollama")
    fake_module.ChatOllama = ChatOllama  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "langchain_ollama", fake_module)
    with pytest.raises(LLMConfigError) as caught:
        get_chat_model("ollama:llama3.2")
    assert str(caught.value) == (
        "model spec 'ollama:llama3.2': could not create ChatOllama: no server configured"
    )


def test_local_path_that_is_not_gguf_or_missing(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (the 'local' extra) not installed")
    text_file = tmp_path / "model.bin"
    text_file.write_text("x")
    with pytest.raises(LLMConfigError, match="is not a .gguf file"):
        get_chat_model(f"local:{text_file}")
    with pytest.raises(LLMConfigError, match="does not exist"):
        get_chat_model(f"local:{tmp_path / 'absent.gguf'}")


def test_canonical_names_are_machine_independent() -> None:
    assert (
        canonical_spec(None) == canonical_spec("local") == "local:SmolLM2-135M-Instruct.Q4_1.gguf"
    )
    assert canonical_spec("local:/a/b/tiny.gguf") == canonical_spec("local:/c/tiny.gguf")
    assert canonical_spec("OpenAI:gpt-4o") == "openai:gpt-4o"


def test_describe_model_uses_provider_and_model_name() -> None:
    assert describe_model(FakeListChatModel(responses=["x"])) == "fake-list-chat-model"

    class ChatThing(FakeListChatModel):
        model_name: str = "gpt-4o-mini"

        @property
        def _llm_type(self) -> str:
            return "openai-chat"

    assert describe_model(ChatThing(responses=["x"])) == "openai:gpt-4o-mini"
