"""Usage accounting per role: calls, tokens (reported or estimated), cost from the price table."""

from __future__ import annotations

import json

import pytest
from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    GenericFakeChatModel,
)
from langchain_core.messages import AIMessage

from optograph.agent.llm import LLM, Usage
from optograph.agent.llm.usage import DEFAULT_PRICES, price_of


class PricedFake(GenericFakeChatModel):
    """A scripted model that calls itself openai:gpt-4o-mini, so the price table applies."""

    model_name: str = "gpt-4o-mini"

    @property
    def _llm_type(self) -> str:
        return "openai-chat"


def reply(text: str, input_tokens: int, output_tokens: int) -> AIMessage:
    return AIMessage(
        content=text,
        usage_metadata={
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        },
    )


def test_reported_tokens_and_cost_are_counted_per_role() -> None:
    usage = Usage()
    model = PricedFake(
        messages=iter([reply("a", 1000, 200), reply("b", 3000, 400), reply("c", 10, 5)])
    )
    optimizer = LLM(model, role="optimizer", usage=usage)
    workflow = optimizer.with_role("workflow")
    optimizer.invoke("first")
    optimizer.invoke("second")
    workflow.invoke("third")

    assert optimizer.model_name == "openai:gpt-4o-mini"
    opt = usage.role("optimizer")
    assert (opt.calls, opt.input_tokens, opt.output_tokens) == (2, 4000, 600)
    assert opt.cost == pytest.approx((4000 * 0.15 + 600 * 0.60) / 1e6)
    flow = usage.role("workflow")
    assert (flow.calls, flow.input_tokens, flow.output_tokens) == (1, 10, 5)
    assert usage.total().calls == 3 and usage.total().total_tokens == 4615
    # each LLM keeps its own log, with the cost of every call
    assert [r.reply_text for r in optimizer.log] == ["a", "b"]
    assert [r.reply_text for r in workflow.log] == ["c"]
    assert optimizer.log[0].cost == pytest.approx((1000 * 0.15 + 200 * 0.60) / 1e6)


def test_tokens_are_estimated_when_the_model_reports_none() -> None:
    llm = LLM(FakeListChatModel(responses=["x" * 40]))
    llm.invoke("y" * 400)
    record = llm.log[0]
    assert record.tokens_estimated
    assert 100 <= record.input_tokens <= 110 and 10 <= record.output_tokens <= 16
    assert record.cost is None  # a scripted model has no price entry
    counts = llm.usage.role("optimizer")
    assert counts.unpriced_calls == 1 and counts.cost == 0.0
    assert counts.input_tokens == record.input_tokens


def test_price_lookup_matches_dated_variants_and_prefers_the_longest_key() -> None:
    assert price_of("openai:gpt-4o-mini-2024-07-18", DEFAULT_PRICES) == (0.15, 0.60)
    assert price_of("openai:gpt-4o", DEFAULT_PRICES) == (2.50, 10.00)
    assert price_of("anthropic:claude-3-5-haiku-latest", DEFAULT_PRICES) == (0.80, 4.00)
    assert price_of("local:anything.gguf", DEFAULT_PRICES) == (0.0, 0.0)
    assert price_of("openai:gpt-4omni", DEFAULT_PRICES) is None  # not a variant of gpt-4o
    assert price_of("mystery:model", DEFAULT_PRICES) is None


def test_custom_price_table() -> None:
    usage = Usage(prices={"openai:gpt-4o-mini": (1.0, 2.0)})
    assert usage.record("optimizer", "openai:gpt-4o-mini", 1_000_000, 500_000) == pytest.approx(2.0)
    assert usage.record("optimizer", "anthropic:claude-3-5-haiku", 10, 10) is None


def test_to_dict_is_json_and_load_dict_restores_counts() -> None:
    usage = Usage()
    usage.record("optimizer", "openai:gpt-4o", 100, 10)
    usage.record("workflow", "local:x.gguf", 50, 5, cached=True)
    state = json.loads(json.dumps(usage.to_dict()))
    assert state["total"]["calls"] == 2 and state["roles"]["workflow"]["cached_calls"] == 1

    resumed = Usage()
    resumed.load_dict(state)
    assert resumed.to_dict() == state
    resumed.record("optimizer", "openai:gpt-4o", 1, 1)
    assert resumed.role("optimizer").calls == 2
