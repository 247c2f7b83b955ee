"""Reading an optimizer reply tolerantly: plain JSON, JSON in a fenced block or inside prose,
Python-style dicts, or XML-like tags (<reasoning>, <answer>, <suggestion>). A reply
terminates the optimization only when its answer is TERMINATE (or the whole reply is), never
because the word appears in its reasoning."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import OptimizerError


class ReplyFormatError(OptimizerError):
    """A reply with no usable suggestion; the message says what was missing."""


@dataclass
class Reply:
    reasoning: str = ""
    answer: str = ""
    suggestion: dict[str, Any] = field(default_factory=dict)
    terminate: bool = False
    format: str = "json"  # json | fenced | embedded | tags | terminate


_FENCED = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_TYPE_PREFIX = re.compile(r"^\(\s*[A-Za-z_][\w\[\], ]*\)\s*")
_TERMINATE = re.compile(r"^\W*terminate\W*$", re.IGNORECASE)


def parse_reply(text: str) -> Reply:
    """The reasoning, answer and suggestion of a reply, or ReplyFormatError."""
    if not isinstance(text, str) or not text.strip():
        raise ReplyFormatError("the reply is empty; answer with a JSON object")
    if _TERMINATE.match(text.strip()):
        return Reply(answer="TERMINATE", terminate=True, format="terminate")
    stripped = text.strip()
    found = _load_mapping(stripped)
    if found is not None:
        return _from_mapping(found, "json")
    for block in _FENCED.findall(stripped):
        found = _load_mapping(block.strip())
        if found is not None and _looks_like_reply(found):
            return _from_mapping(found, "fenced")
    candidates = [m for m in _embedded_objects(stripped)]
    for mapping in candidates:
        if _looks_like_reply(mapping):
            return _from_mapping(mapping, "embedded")
    tagged = _from_tags(stripped)
    if tagged is not None:
        return tagged
    if candidates:
        raise ReplyFormatError(
            "the JSON object in the reply has no 'suggestion' key; reply with "
            '{"reasoning": ..., "answer": ..., "suggestion": {variable: new value}}'
        )
    raise ReplyFormatError(
        "the reply contains no JSON object and no <suggestion> tag; reply with "
        '{"reasoning": ..., "answer": ..., "suggestion": {variable: new value}}'
    )


def clean_name(name: str) -> str:
    """A variable name as the model may have written it ("(int) x", "`x`") made plain."""
    return _TYPE_PREFIX.sub("", str(name).strip().strip("`'\"")).strip()


def _looks_like_reply(mapping: Mapping[str, Any]) -> bool:
    keys = {str(k).lower() for k in mapping}
    return bool(keys & {"suggestion", "answer"})


def _from_mapping(mapping: Mapping[str, Any], fmt: str) -> Reply:
    lower = {str(k).strip().lower(): v for k, v in mapping.items()}
    if not _looks_like_reply(lower):
        raise ReplyFormatError(
            "the JSON reply has no 'suggestion' key (found: "
            f"{', '.join(map(repr, mapping)) or 'nothing'})"
        )
    answer = lower.get("answer")
    answer_text = "" if answer in (None, {}, []) else str(answer)
    raw = lower.get("suggestion")
    if isinstance(raw, str):
        parsed = _load_mapping(raw.strip()) if raw.strip() else {}
        if parsed is None:
            raise ReplyFormatError(
                f"'suggestion' must be an object {{variable: new value}}; got the text {raw[:60]!r}"
            )
        raw = parsed
    if raw is None or raw == []:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ReplyFormatError(
            f"'suggestion' must be an object {{variable: new value}}; got {type(raw).__name__}"
        )
    reasoning = lower.get("reasoning", "")
    return Reply(
        reasoning=reasoning if isinstance(reasoning, str) else json.dumps(reasoning, default=str),
        answer=answer_text,
        suggestion={clean_name(k): v for k, v in raw.items()},
        terminate=bool(_TERMINATE.match(answer_text.strip())) if answer_text else False,
        format=fmt,
    )


def _load_mapping(text: str) -> dict[str, Any] | None:
    """A dict from JSON, JSON with trailing commas, or a Python literal; else None."""
    if not text.startswith("{"):
        return None
    attempts = (
        lambda t: json.loads(t),
        lambda t: json.loads(_TRAILING_COMMA.sub(r"\1", t)),
        lambda t: ast.literal_eval(t),
        lambda t: json.loads(t, strict=False),
    )
    for attempt in attempts:
        try:
            value = attempt(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(value, dict):
            return value
    return None


def _embedded_objects(text: str) -> Iterator[dict[str, Any]]:
    """Every balanced {...} span of the text that parses as a dict, outermost first."""
    start = 0
    while True:
        begin = text.find("{", start)
        if begin < 0:
            return
        end = _matching_brace(text, begin)
        if end is None:
            start = begin + 1
            continue
        mapping = _load_mapping(text[begin : end + 1])
        if mapping is not None:
            yield mapping
            start = end + 1
        else:
            start = begin + 1


def _matching_brace(text: str, begin: int) -> int | None:
    depth = 0
    quote: str | None = None
    escaped = False
    for i in range(begin, len(text)):
        char = text[i]
        if quote is not None:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i
    return None


def _tag(text: str, name: str) -> str | None:
    match = re.search(rf"<{name}(?:\s[^>]*)?>(.*?)</{name}\s*>", text, re.DOTALL | re.IGNORECASE)
    return match.group(1).strip() if match else None


def _from_tags(text: str) -> Reply | None:
    suggestion_text = _tag(text, "suggestion")
    answer = _tag(text, "answer")
    if suggestion_text is None and answer is None:
        return None
    suggestion: dict[str, Any] = {}
    if suggestion_text:
        inner = _FENCED.findall(suggestion_text)
        body = inner[0].strip() if inner else suggestion_text
        mapping = _load_mapping(body)
        if mapping is not None:
            suggestion = {clean_name(k): v for k, v in mapping.items()}
        else:
            pairs = re.findall(
                r"<variable\s+name\s*=\s*[\"']([^\"']+)[\"']\s*>(.*?)</variable\s*>", body, re.DOTALL
            ) or re.findall(r"<([A-Za-z_][\w:.-]*)>(.*?)</\1\s*>", body, re.DOTALL)
            if not pairs:
                raise ReplyFormatError(
                    "the <suggestion> tag holds neither a JSON object nor "
                    '<variable name="..."> tags'
                )
            suggestion = {clean_name(k): _strip_newlines(v) for k, v in pairs}
    answer_text = answer or ""
    return Reply(
        reasoning=_tag(text, "reasoning") or "",
        answer=answer_text,
        suggestion=suggestion,
        terminate=bool(_TERMINATE.match(answer_text)) if answer_text else False,
        format="tags",
    )


def _strip_newlines(value: str) -> str:
    return value.strip("\n")
