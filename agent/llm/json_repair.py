"""Close a JSON reply that was cut off (the token budget ran out mid-object).

A model constrained by a JSON grammar only ever emits a prefix of valid JSON, so when it stops
early the reply can be completed: close the open string if it is a value, then close every open
object and array. Where that is not enough (the cut fell inside a key, a number or after a comma),
the reply is cut back to the last complete value and closed there."""

from __future__ import annotations

import json
import re

_PARTIAL_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{0,3})?$")
_SCALAR_END = ",}] \t\r\n"


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def close_truncated_json(text: str) -> str | None:
    """Return `text` if it parses, else the longest closed-off prefix that parses, else None."""
    if _parses(text):
        return text
    closers: list[str] = []  # "}" or "]" for every open container, innermost last
    expect_key: list[bool] = []  # per open container: the next string is an object key
    safe_points: list[tuple[int, str]] = []  # (cut position, closers needed there)
    in_string = string_is_key = escaped = False
    scalar_open = False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
                if not string_is_key:
                    safe_points.append((index + 1, "".join(reversed(closers))))
            continue
        if scalar_open and char in _SCALAR_END:
            scalar_open = False
            safe_points.append((index, "".join(reversed(closers))))
        if char == '"':
            in_string = True
            string_is_key = bool(closers) and closers[-1] == "}" and expect_key[-1]
        elif char in "{[":
            closers.append("}" if char == "{" else "]")
            expect_key.append(char == "{")
            safe_points.append((index + 1, "".join(reversed(closers))))
        elif char in "}]":
            if not closers:
                break
            closers.pop()
            expect_key.pop()
            safe_points.append((index + 1, "".join(reversed(closers))))
        elif char == ":" and expect_key:
            expect_key[-1] = False
        elif char == "," and closers and closers[-1] == "}":
            expect_key[-1] = True
        elif not char.isspace():
            scalar_open = True
    candidates: list[str] = []
    tail = "".join(reversed(closers))
    if in_string and not string_is_key:
        candidates.append(_PARTIAL_ESCAPE.sub("", text) + '"' + tail)
    elif scalar_open:
        candidates.append(text + tail)
    candidates.extend(text[:cut] + needed for cut, needed in reversed(safe_points))
    for candidate in candidates:
        if _parses(candidate):
            return candidate
    return None
