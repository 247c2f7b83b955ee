"""Short, bounded text forms of values for summaries, graphs and prompts."""

from __future__ import annotations

from typing import Any

TRUNCATION_MARKER = "...(truncated)"


def preview(value: Any, max_chars: int | None = 200) -> str:
    """repr-like text of `value`, cut to `max_chars` with a visible marker."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = repr(value)
        except Exception as exc:  # a broken __repr__ must not break a summary
            text = f"<{type(value).__name__} (repr failed: {type(exc).__name__})>"
    if max_chars is not None and len(text) > max_chars:
        keep = max(max_chars - len(TRUNCATION_MARKER), 0)
        return text[:keep] + TRUNCATION_MARKER
    return text


def type_name(value: Any) -> str:
    return type(value).__name__
