"""OptoPrime (and so OPRO) asks a chat model behind an API for its reply schema through
LangChain's structured-output API, falling back method by method, then to a plain call and
the tolerant parser, where the model does not take it (issue 17)."""

from __future__ import annotations

import json
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda

import optograph as og
from optograph.agent import OPRO, OptoPrime


class StructuredFake(BaseChatModel):
    """A chat model with tools and structured output: `with_structured_output` records the
    schema and method asked for and answers the schema object `suggest(schema)`; methods
    listed in `refuse` fail when invoked (as a server rejecting the request does). A plain
    call answers prose, which no parser can use."""

    refuse: list[str] = []
    asked: list[tuple[str, dict[str, Any]]] = []
    plain_calls: int = 0
    value: float = 5.0
    temperature: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "structured-fake"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self

    def with_structured_output(self, schema: Any, *, method: str = "json_schema",
                               include_raw: bool = False, **kwargs: Any) -> Runnable[Any, Any]:
        assert include_raw and isinstance(schema, dict) and schema.get("title")

        def answer(messages: list[BaseMessage]) -> dict[str, Any]:
            self.asked.append((method, schema))
            if method in self.refuse:
                raise ValueError(f"400: response format {method} is not supported")
            name = next(iter(schema["properties"]["suggestion"]["properties"]))
            parsed = {"reasoning": "r", "answer": "", "suggestion": {name: self.value}}
            raw = AIMessage("", tool_calls=[{"name": schema["title"], "args": parsed, "id": "1"}],
                            usage_metadata={"input_tokens": 11, "output_tokens": 7,
                                            "total_tokens": 18})
            return {"raw": raw, "parsed": parsed, "parsing_error": None}

        return RunnableLambda(answer)

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        self.plain_calls += 1
        return ChatResult(generations=[ChatGeneration(
            message=AIMessage("I would move x a little upwards."))])


def _numeric(llm: Any, cls: type[OptoPrime] = OptoPrime, **options: Any) -> tuple[og.Node, OptoPrime]:
    x = og.node(-1.0, trainable=True, name="x", constraint="-10 <= x <= 10")
    opt = cls([x], llm=llm, on_invalid="skip", max_retries=0, **options)
    y = og.bundle()(lambda v: (v - 7) ** 2)(x)
    opt.zero_feedback()
    y.backward({"score": float(y.data), "feedback": f"loss is {y.data}; make it 0"})
    opt.step()
    return x, opt


def test_reply_schema_goes_through_structured_output() -> None:
    model = StructuredFake(asked=[], refuse=[])
    x, opt = _numeric(model, llm_params={"temperature": 0.3})
    assert x.data == 5.0
    assert [method for method, _ in model.asked] == ["json_schema"]
    schema = model.asked[0][1]
    assert set(schema["properties"]["suggestion"]["properties"]) == {"x"}
    assert model.plain_calls == 0
    assert json.loads(opt.log[-1]["reply"])["suggestion"] == {"x": 5.0}
    assert opt.llm.usage.total().input_tokens == 11  # the raw reply's usage is accounted


def test_a_refused_method_falls_back_to_the_next_then_to_a_plain_call() -> None:
    model = StructuredFake(asked=[], refuse=["json_schema"])
    x, opt = _numeric(model)
    assert x.data == 5.0
    assert [method for method, _ in model.asked] == ["json_schema", "function_calling"]
    # the same LLM object remembers what the model refused: the next step goes straight on
    y = og.bundle()(lambda v: (v - 7) ** 2)(opt.parameters[0])
    opt.zero_feedback()
    y.backward("again")
    opt.step()
    assert [method for method, _ in model.asked][2:] == ["function_calling"]
    everything_refused = StructuredFake(asked=[], refuse=["json_schema", "function_calling"])
    x, _ = _numeric(everything_refused)
    assert x.data == -1.0 and everything_refused.plain_calls == 1  # prose: skipped, unchanged


def test_opro_uses_it_too_and_anthropic_gets_a_tool_call() -> None:
    model = StructuredFake(asked=[], refuse=[])
    x, _ = _numeric(model, OPRO)
    assert x.data == 5.0 and model.asked[0][0] == "json_schema"

    class AnthropicFake(StructuredFake):
        @property
        def _llm_type(self) -> str:
            return "anthropic-chat"

    tools_only = AnthropicFake(asked=[], refuse=[])
    x, _ = _numeric(tools_only)
    assert x.data == 5.0 and [m for m, _ in tools_only.asked] == ["function_calling"]
