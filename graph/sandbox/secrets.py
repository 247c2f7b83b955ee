"""Secrets never reach feedback text or a prompt: the values of secret-looking environment
variables are replaced in any text that came out of optimizer-written code."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL")
MIN_SECRET_LENGTH = 6  # shorter values ("1", "yes") would redact ordinary words


def secret_values(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """{value: variable name} for every secret-looking variable, longest value first."""
    env = os.environ if environ is None else environ
    found = {
        value: name for name, value in env.items()
        if any(w in name.upper() for w in SECRET_WORDS) and len(value) >= MIN_SECRET_LENGTH
    }
    return dict(sorted(found.items(), key=lambda item: -len(item[0])))


def scrub(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`text` with each secret value replaced by `[redacted $NAME]`."""
    for value, name in secret_values(environ).items():
        if value in text:
            text = text.replace(value, f"[redacted ${name}]")
    return text


def scrub_value(value: Any, environ: Mapping[str, str] | None = None) -> Any:
    """`scrub` applied to every text inside a plain value (lists, tuples, sets, dicts)."""
    secrets = secret_values(environ)
    if not secrets:
        return value

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            return scrub(v, environ)
        if isinstance(v, (list, tuple, set, frozenset)):
            return type(v)(walk(x) for x in v)
        if isinstance(v, dict):
            return {walk(k): walk(x) for k, x in v.items()}
        return v

    return walk(value)
