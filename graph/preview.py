"""Short, bounded text forms of values for summaries, graphs and prompts."""

from __future__ import annotations

from typing import Any

TRUNCATION_MARKER = "...(truncated)"


def preview(value: Any, max_chars: int | None = 200) -> str:
    """repr-like text of `value`, cut to `max_chars` with a visible marker."""
    text = value if isinstance(value, str) else _safe_repr(value)
    if max_chars is not None and len(text) > max_chars:
        keep = max(max_chars - len(TRUNCATION_MARKER), 0)
        return text[:keep] + TRUNCATION_MARKER
    return text


def type_name(value: Any) -> str:
    return type(value).__name__


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as exc:  # a broken __repr__ must not break a summary
        return f"<{type(value).__name__} (repr failed: {type(exc).__name__})>"
