"""Which failures of a chat-model call are worth retrying: the network, rate limits, timeouts
and overloaded servers; never a bad request, a bad key or a bug."""

from __future__ import annotations

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


def backoff_delays(max_retries: int, backoff_s: float) -> list[float]:
    """Seconds to wait before each retry: backoff_s, 2*backoff_s, 4*backoff_s, ..."""
    return [backoff_s * 2**attempt for attempt in range(max_retries)]
