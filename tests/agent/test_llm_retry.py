"""Retries: transient failures are retried with exponential backoff, others fail at once, and
a call that never succeeds ends in LLMCallError naming the model."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from optograph.agent.llm import LLM, LLMCallError
from optograph.agent.llm.retry import is_transient


class RateLimitError(Exception):
    """Named like the openai/anthropic client's rate-limit error."""


class StatusError(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


class ScriptedChatModel(BaseChatModel):
    """Answers from a script of replies and exceptions, counting the calls it receives."""

    model_name: str = "scripted-1"
    script: list[Any]
    _calls: list[list[BaseMessage]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def calls(self) -> int:
        return len(self._calls)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        step = self.script[len(self._calls)]
        self._calls.append(messages)
        if isinstance(step, BaseException):
            raise step
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=step))])


def test_transient_failures_are_retried_with_exponential_backoff() -> None:
    model = ScriptedChatModel(
        script=[ConnectionError("reset"), RateLimitError("slow down"), TimeoutError(), "ok"]
    )
    waits: list[float] = []
    llm = LLM(model, max_retries=3, backoff_s=0.5, sleep=waits.append, jitter=0.0)
    assert llm.invoke("hello").content == "ok"
    assert model.calls == 4
    assert waits == [0.5, 1.0, 2.0]
    assert llm.log[-1].attempts == 4 and llm.log[-1].error is None


class RetryAfterError(Exception):
    """A 429 whose response carries a Retry-After header, like httpx's."""

    def __init__(self, after: str) -> None:
        super().__init__("HTTP 429 Too Many Requests")
        self.status_code = 429
        self.response = type("Response", (), {"headers": {"retry-after": after},
                                               "status_code": 429})()


def test_rate_limits_honour_retry_after_with_jitter_and_are_reported() -> None:
    model = ScriptedChatModel(script=[RetryAfterError("7"), RateLimitError("slow"), "ok"])
    waits: list[float] = []
    notices: list[str] = []
    llm = LLM(model, max_retries=3, backoff_s=2.0, sleep=waits.append, on_retry=notices.append)
    assert llm.invoke("hello").content == "ok"
    assert 7.0 <= waits[0] <= 7.0 * 1.5  # at least what the provider asked for
    assert 1.0 <= waits[1] <= 4.0  # 2 * 2**1, minus up to half of it
    assert notices[0] == f"scripted:scripted-1: rate limited, retrying in {waits[0]:.1f} s"
    spread = set()
    for _ in range(20):  # callers retrying together are spread out
        many: list[float] = []
        LLM(ScriptedChatModel(script=[RateLimitError("x"), "ok"]), backoff_s=1.0,
            sleep=many.append).invoke("hi")
        spread.add(round(many[0], 6))
    assert len(spread) > 1 and all(0.5 <= w <= 1.0 for w in spread)


def test_retries_exhausted_raise_llm_call_error_naming_the_model() -> None:
    model = ScriptedChatModel(script=[StatusError(503)] * 3)
    waits: list[float] = []
    llm = LLM(model, max_retries=2, backoff_s=0.1, sleep=waits.append, jitter=0.0)
    with pytest.raises(LLMCallError) as caught:
        llm.invoke("hello")
    error = caught.value
    assert error.model == "scripted:scripted-1"
    assert str(error) == "scripted:scripted-1: call failed after 3 attempts: StatusError: HTTP 503"
    assert isinstance(error.__cause__, StatusError)
    assert model.calls == 3 and waits == pytest.approx([0.1, 0.2])
    failed = llm.log[-1]
    assert failed.reply is None and "HTTP 503" in (failed.error or "")
    assert llm.usage.total().calls == 0  # a failed call costs nothing in the accounting


def test_non_transient_failure_is_not_retried() -> None:
    model = ScriptedChatModel(script=[StatusError(401), "never reached"])
    llm = LLM(model, sleep=lambda _: pytest.fail("must not wait"))
    with pytest.raises(
        LLMCallError, match=r"^scripted:scripted-1: call failed: StatusError: HTTP 401$"
    ):
        llm.invoke("hello")
    assert model.calls == 1


def test_a_failed_call_does_not_shift_the_next_ones() -> None:
    # asking again after a failure is the same call again (same key, same occurrence), so a
    # recorded run with a failure in it still replays call for call
    model = ScriptedChatModel(script=[ValueError("bad"), "fine"])
    llm = LLM(model)
    with pytest.raises(LLMCallError):
        llm.invoke("q")
    assert llm.invoke("q").content == "fine"
    assert [r.occurrence for r in llm.log] == [0, 0]


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (RateLimitError(), True),
        (StatusError(429), True),
        (StatusError(529), True),
        (StatusError(400), False),
        (ValueError("bad request"), False),
        (KeyError("x"), False),
    ],
)
def test_transient_classification(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient
