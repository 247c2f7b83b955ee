"""Which failures of a chat-model call are worth retrying: the network, rate limits, timeouts
and overloaded servers; never a bad request, a bad key or a bug."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from optograph.graph.errors import OptographError

# class names used by the openai, anthropic, httpx and requests packages for transient errors
_TRANSIENT_NAMES = (
    "RateLimit",
    "Timeout",
    "APIConnectionError",
    "ConnectError",
    "ConnectionError",
    "RemoteProtocolError",
    "InternalServerError",
    "ServiceUnavailable",
    "Overloaded",
)
_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 529})


def _status_code(error: BaseException) -> int | None:
    for holder in (error, getattr(error, "response", None)):
        status = getattr(holder, "status_code", None)
        if isinstance(status, int):
            return status
    return None


def is_transient(error: BaseException) -> bool:
    if isinstance(error, OptographError):
        return False
    if isinstance(error, ConnectionError | TimeoutError):
        return True
    status = _status_code(error)
    if status is not None:
        return status in _TRANSIENT_STATUS
    return any(name in cls.__name__ for cls in type(error).__mro__ for name in _TRANSIENT_NAMES)


def retry_after_s(error: BaseException) -> float | None:
    """The wait a provider asked for (a Retry-After header in seconds or as an HTTP date,
    or a `retry_after` attribute), or None."""
    value: Any = getattr(error, "retry_after", None)
    if value is None:
        headers = getattr(getattr(error, "response", None), "headers", None)
        if headers is not None:
            try:
                value = headers.get("retry-after") or headers.get("Retry-After")
            except AttributeError:
                value = None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        pass
    try:
        when = parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def retry_delay(attempt: int, backoff_s: float, error: BaseException, jitter: float,
                rng: random.Random) -> float:
    """Seconds to wait before retry `attempt` (0-based): what the provider asked for
    (Retry-After) when it said, else exponential backoff; both spread by up to `jitter` (a
    share, added on top of Retry-After, taken off the backoff) so concurrent callers do not
    retry in step."""
    asked = retry_after_s(error)
    if asked is not None:
        return asked * (1.0 + jitter * rng.random())
    return backoff_s * 2**attempt * (1.0 - jitter * rng.random())


def retry_notice(model: str, error: BaseException, delay_s: float) -> str:
    """`model: rate limited, retrying in 2.0 s`: what the progress line shows."""
    status = _status_code(error)
    kind = "rate limited" if status == 429 or "RateLimit" in type(error).__name__ else (
        f"{type(error).__name__}" + (f" (HTTP {status})" if status else ""))
    return f"{model}: {kind}, retrying in {delay_s:.1f} s"
