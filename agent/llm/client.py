"""LLM: the one door every chat-model call of optograph goes through.

It resolves the model (lazily, so a cassette replays without the provider installed), answers
from a cassette or the disk cache when they hold the call, otherwise calls the model with
retries on transient failures, and accounts and logs every call under its role."""

from __future__ import annotations

import asyncio
import copy
import logging
import pickle
import random
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, convert_to_messages

from optograph.graph.errors import OptographError

from .cache import CallCache
from .call_record import CallEvent, CallHook, CallRecord, CallSource
from .cassette import Cassette
from .errors import CassetteMissError, LLMCallError, LLMConfigError
from .messages import (
    as_ai_message,
    call_key,
    canonical_json,
    estimate_tokens,
    message_text,
)
from .retry import is_transient, retry_delay, retry_notice
from .spec import canonical_spec, describe_model, get_chat_model, json_schema_kwargs
from .structured import (
    StructuredOutputUnsupported,
    invoke_structured,
    structured_methods,
    with_params,
)
from .usage import Usage

logger = logging.getLogger(__name__)

MessagesInput = str | Sequence[BaseMessage | tuple[str, str] | dict[str, Any] | str]


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


class LLM:
    """A chat model with usage accounting, a disk cache, cassettes, retries and a call log.

    `model` is a spec string ("local", "local:/path.gguf", "openai:gpt-4o-mini", ...; the model
    is built on the first call that needs it) or any langchain-core BaseChatModel. `role` tags
    this object's calls in `usage` (share one Usage between the optimizer's LLM and the
    workflow's). `cache` is a path or a CallCache; `cassette` a Cassette. A transient failure
    (connection, rate limit, timeout) is retried `max_retries` times, waiting what the provider
    asked for (Retry-After) or backoff_s, 2x, 4x, ..., spread by up to `jitter` (so concurrent
    callers do not retry in step), and telling `on_retry` (the progress line) each time; then,
    or at once for any other failure, LLMCallError naming the model is raised.
    `on_call(event, record)` hears of every call: "start" before it is answered, "end" after
    (for progress displays; an exception it raises is logged, never breaks the call)."""

    def __init__(
        self,
        model: str | BaseChatModel | None = None,
        role: str = "optimizer",
        usage: Usage | None = None,
        cache: str | Path | CallCache | None = None,
        cassette: Cassette | None = None,
        max_retries: int = 3,
        backoff_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: float = 0.5,
        on_retry: Callable[[str], None] | None = None,
        on_call: CallHook | None = None,
    ) -> None:
        if not role:
            raise ValueError("LLM role must be a non-empty string")
        if max_retries < 0 or backoff_s < 0:
            raise ValueError(
                f"LLM max_retries and backoff_s must be >= 0, got {max_retries}, {backoff_s}"
            )
        self._chat: BaseChatModel | None
        if isinstance(model, BaseChatModel):
            self._spec: str | None = None
            self._chat = model
            self.model_name = describe_model(model)
            # settings on the object (temperature, ...) change replies, so they are part of its identity
            self._identity = self.model_name + canonical_json(_identifying_params(model))
        else:
            self._spec = model
            self._chat = None
            self.model_name = canonical_spec(model)  # a bad spec fails here, before any call
            self._identity = self.model_name
        self.role = role
        self.usage = usage if usage is not None else Usage()
        self.cache = CallCache(cache) if isinstance(cache, str | Path) else cache
        self.cassette = cassette
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self._sleep = sleep
        self.jitter = jitter  # share by which retry waits are spread (0: exact backoff)
        self.on_retry = on_retry  # told "model: rate limited, retrying in 2.0 s" per retry
        self._rng = random.Random()
        self._log: list[CallRecord] = []
        self._occurrences: dict[str, int] = {}
        self._lock = threading.Lock()
        self._structured: list[str] | None = None  # structured-output methods left to try
        self.on_call = on_call

    @property
    def chat_model(self) -> BaseChatModel:
        """The underlying LangChain chat model, built from the spec on first use."""
        with self._lock:
            if self._chat is None:
                self._chat = get_chat_model(self._spec)
            return self._chat

    @property
    def log(self) -> list[CallRecord]:
        """Every call made through this object, failed ones included, oldest first."""
        with self._lock:
            return list(self._log)

    def with_role(self, role: str) -> LLM:
        """Another LLM on the same model, usage, cache and cassette, accounting under `role`."""
        other = LLM.__new__(LLM)
        other.__dict__.update(self.__dict__)
        other.role = role
        other._log, other._occurrences, other._lock = [], {}, threading.Lock()
        return other

    # -- copy and pickle -------------------------------------------------------------------
    # A copy is another LLM on the same model that counts in the same Usage and uses the same
    # cache and cassette (the session's accounting and files); it starts with a copy of the
    # call log. A model given as a spec is re-created from the spec on first use; a chat
    # model object is shared by copy.copy, copied by deepcopy and pickled by pickle, and one
    # that cannot be is refused with a one-line LLMConfigError naming it.
    def __copy__(self) -> LLM:
        return self._copied(self._chat)

    def __deepcopy__(self, memo: dict[int, Any]) -> LLM:
        chat = None
        if self._spec is None:
            try:
                chat = copy.deepcopy(self._chat, memo)
            except Exception as error:
                raise self._uncopyable("copied", error) from None
        other = self._copied(chat)
        other._log = copy.deepcopy(other._log, memo)
        return other

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_lock"]
        state["_log"] = self.log
        # progress hooks belong to the process showing progress, not to a pickled copy
        state["on_call"] = state["on_retry"] = None
        if self._spec is not None:
            state["_chat"] = None
        else:
            try:
                pickle.dumps(self._chat)
            except Exception as error:
                raise self._uncopyable("pickled", error) from None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _copied(self, chat: BaseChatModel | None) -> LLM:
        other = LLM.__new__(LLM)
        other.__dict__.update(self.__dict__)
        with self._lock:
            other._log, other._occurrences = list(self._log), dict(self._occurrences)
        other._chat = chat if self._spec is None else None
        other._lock = threading.Lock()
        return other

    def _uncopyable(self, how: str, error: BaseException) -> LLMConfigError:
        return LLMConfigError(
            f"LLM {self.model_name}: its chat model object ({type(self._chat).__name__}) cannot "
            f"be {how} ({_first_line(error)}); give the LLM a 'provider:model' spec instead, "
            "which a copy re-creates"
        )

    def invoke(
        self, messages: MessagesInput, json_schema: dict[str, Any] | None = None, **params: Any
    ) -> AIMessage:
        """Send `messages` (or a plain string, as one human message) and return the reply.

        `json_schema` asks for a JSON reply following it (enforced by the local model, passed
        on as far as a provider supports it); `params` (temperature, max_tokens, seed, ...)
        go to the model with the call. Both are part of the cache and cassette key."""
        chat_messages = _to_messages(messages)
        call_params = dict(params)
        if json_schema is not None:
            if not isinstance(json_schema, dict):
                raise ValueError(f"json_schema must be a dict, got {type(json_schema).__name__}")
            call_params["json_schema"] = json_schema
        key = call_key(self._identity, self.role, chat_messages, call_params)
        with self._lock:
            occurrence = self._occurrences.get(key, 0)
            self._occurrences[key] = occurrence + 1
        record = CallRecord(
            role=self.role,
            model=self.model_name,
            messages=chat_messages,
            params=call_params,
            reply=None,
            source=None,
            key=key,
            occurrence=occurrence,
        )
        started = time.perf_counter()
        self._notify("start", record)
        try:
            reply, source = self._answer(record, chat_messages, params, json_schema)
        except BaseException as error:
            with self._lock:  # a failed call gives its occurrence back: the retry of it is it
                if self._occurrences.get(key) == occurrence + 1:
                    self._occurrences[key] = occurrence
            record.error = _first_line(error)
            record.duration_s = time.perf_counter() - started
            self._append(record)
            self._notify("end", record)
            raise
        record.duration_s = time.perf_counter() - started
        record.reply, record.source = reply, source
        self._account(record)
        self._append(record)
        self._notify("end", record)
        return reply

    def _notify(self, event: CallEvent, record: CallRecord) -> None:
        hook = self.on_call
        if hook is None:
            return
        try:
            hook(event, record)
        except Exception as error:  # a display must not break the call it reports
            logger.warning("LLM on_call hook failed: %s", _first_line(error))

    async def ainvoke(
        self, messages: MessagesInput, json_schema: dict[str, Any] | None = None, **params: Any
    ) -> AIMessage:
        """invoke() in a worker thread, for async workflows."""
        return await asyncio.to_thread(self.invoke, messages, json_schema, **params)

    def _answer(
        self,
        record: CallRecord,
        messages: list[BaseMessage],
        params: dict[str, Any],
        json_schema: dict[str, Any] | None,
    ) -> tuple[AIMessage, CallSource]:
        key, occurrence = record.key, record.occurrence
        if self.cassette is not None:
            replayed = self.cassette.lookup(key, occurrence)
            if replayed is not None:
                return replayed, "cassette"
            if self.cassette.mode == "replay":
                preview = message_text(messages[-1])[:60].replace("\n", " ") if messages else ""
                raise CassetteMissError(
                    f"{self.model_name}: call not in cassette {self.cassette.path} "
                    f"(replay mode; role {self.role!r}, key {key[:12]}, occurrence {occurrence}, "
                    f"last message {preview!r})",
                    model=self.model_name,
                )
        source: CallSource = "cache"
        reply = self.cache.get(key, occurrence) if self.cache is not None else None
        if reply is None:
            reply, record.attempts = self._call_model(messages, params, json_schema)
            source = "model"
            if self.cache is not None:
                self.cache.put(key, occurrence, self.model_name, reply)
        if self.cassette is not None:
            self.cassette.record(key, occurrence, self.model_name, messages, record.params, reply)
        return reply, source

    def _call_model(
        self,
        messages: list[BaseMessage],
        params: dict[str, Any],
        json_schema: dict[str, Any] | None,
    ) -> tuple[AIMessage, int]:
        chat = self.chat_model
        for attempt in range(self.max_retries + 1):
            try:
                return self._send(chat, messages, params, json_schema), attempt + 1
            except OptographError:
                raise  # our own errors (a missing model file, ...) already say what is wrong
            except Exception as error:
                if not is_transient(error):
                    raise LLMCallError(
                        f"{self.model_name}: call failed: {_first_line(error)}",
                        model=self.model_name,
                    ) from error
                if attempt == self.max_retries:
                    raise LLMCallError(
                        f"{self.model_name}: call failed after {attempt + 1} attempts: "
                        f"{_first_line(error)}",
                        model=self.model_name,
                    ) from error
                delay = retry_delay(attempt, self.backoff_s, error, self.jitter, self._rng)
                if self.on_retry is not None:
                    self.on_retry(retry_notice(self.model_name, error, delay))
                self._sleep(delay)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _send(
        self,
        chat: BaseChatModel,
        messages: list[BaseMessage],
        params: dict[str, Any],
        json_schema: dict[str, Any] | None,
    ) -> AIMessage:
        """One call. A reply schema goes through the model's structured output where it has
        one (structured.py), trying its methods in order, else as call parameters
        (json_schema_kwargs). A method that failed where a later way then worked was refused
        by the model (a server answers such requests with 400, 422 or 500): this LLM drops it.
        When every way fails, the last error goes to the retries and nothing is dropped."""
        failed: list[str] = []
        if json_schema is not None:
            with self._lock:
                if self._structured is None:
                    provider = self.model_name.partition(":")[0]
                    self._structured = structured_methods(chat, provider)
                methods = list(self._structured)
            for method in methods:
                try:
                    reply = invoke_structured(with_params(chat, params), messages, json_schema,
                                              method)
                except OptographError:
                    raise
                except Exception as error:
                    if not isinstance(error, StructuredOutputUnsupported):
                        logger.info("%s: structured output (%s) failed: %s", self.model_name,
                                    method, _first_line(error))
                    failed.append(method)
                    continue
                self._drop_structured(failed)
                return reply
        kwargs = dict(params)
        if json_schema is not None:
            text = "\n".join(message_text(message) for message in messages)
            kwargs.update(json_schema_kwargs(chat, json_schema, text))
        reply = as_ai_message(chat.invoke(messages, **kwargs))
        self._drop_structured(failed)
        return reply

    def _drop_structured(self, methods: list[str]) -> None:
        with self._lock:
            if self._structured is not None:
                self._structured = [m for m in self._structured if m not in methods]

    def _account(self, record: CallRecord) -> None:
        assert record.reply is not None
        usage = record.reply.usage_metadata
        if usage and (usage.get("input_tokens") or usage.get("output_tokens")):
            record.input_tokens = int(usage.get("input_tokens", 0))
            record.output_tokens = int(usage.get("output_tokens", 0))
        else:
            record.tokens_estimated = True
            record.input_tokens = estimate_tokens([message_text(m) for m in record.messages])
            record.output_tokens = estimate_tokens([message_text(record.reply)])
        record.cost = self.usage.record(
            self.role,
            self.model_name,
            record.input_tokens,
            record.output_tokens,
            cached=record.source != "model",
        )

    def _append(self, record: CallRecord) -> None:
        with self._lock:
            self._log.append(record)

    def __repr__(self) -> str:
        return f"LLM({self.model_name!r}, role={self.role!r})"


def _identifying_params(model: BaseChatModel) -> dict[str, Any]:
    try:
        return dict(model._identifying_params)
    except Exception:  # a third-party model whose params cannot be read: its name must do
        return {}


def _to_messages(messages: MessagesInput) -> list[BaseMessage]:
    if isinstance(messages, str):
        return [HumanMessage(content=messages)]
    try:
        return list(convert_to_messages(list(messages)))
    except (ValueError, TypeError, NotImplementedError) as error:
        raise ValueError(f"LLM.invoke: cannot read the messages: {_first_line(error)}") from error
