"""Token and cost accounting per role (the optimizer's calls, the workflow's calls, ...).

Every logical call counts, whether the model answered it or the cache or a cassette did, so a
replayed run reports the same usage and stops on the same token or cost budget as the recorded
one; `cached_calls` and `cached_cost` say how much of it was not sent to a model."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from types import MappingProxyType
from typing import Any

# USD per million tokens (input, output): public list prices when this table was written.
# Prices change: pass Usage(prices=...) to use your own. A key ending in ":" covers a provider.
DEFAULT_PRICES: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "local:": (0.0, 0.0),
        "ollama:": (0.0, 0.0),
        "openai:gpt-4o": (2.50, 10.00),
        "openai:gpt-4o-mini": (0.15, 0.60),
        "openai:gpt-4.1": (2.00, 8.00),
        "openai:gpt-4.1-mini": (0.40, 1.60),
        "openai:gpt-4.1-nano": (0.10, 0.40),
        "openai:o3-mini": (1.10, 4.40),
        "openai:o4-mini": (1.10, 4.40),
        "anthropic:claude-3-haiku": (0.25, 1.25),
        "anthropic:claude-3-5-haiku": (0.80, 4.00),
        "anthropic:claude-3-5-sonnet": (3.00, 15.00),
        "anthropic:claude-3-7-sonnet": (3.00, 15.00),
        "anthropic:claude-sonnet-4": (3.00, 15.00),
        "anthropic:claude-opus-4": (15.00, 75.00),
    }
)


def price_of(model: str, prices: Mapping[str, tuple[float, float]]) -> tuple[float, float] | None:
    """The (input, output) price per million tokens of "provider:model", or None if unknown.

    The longest matching key wins; a key matches the model itself or a dated or suffixed
    variant of it ("openai:gpt-4o-mini-2024-07-18" is priced as "openai:gpt-4o-mini")."""
    best: str | None = None
    for key in prices:
        matches = model == key or (
            model.startswith(key) and (key.endswith(":") or model[len(key)] in "-@")
        )
        if matches and (best is None or len(key) > len(best)):
            best = key
    return None if best is None else prices[best]


@dataclass
class RoleUsage:
    """What one role spent. `unpriced_calls` counts calls whose model had no price entry (their
    cost is not in `cost`)."""

    calls: int = 0
    cached_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    cached_cost: float = 0.0
    unpriced_calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add(self, other: RoleUsage) -> None:
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Usage:
    """Usage per role; share one object between several LLMs to account a whole run. Thread-safe."""

    def __init__(self, prices: Mapping[str, tuple[float, float]] | None = None) -> None:
        self.prices: Mapping[str, tuple[float, float]] = (
            DEFAULT_PRICES if prices is None else dict(prices)
        )
        self._roles: dict[str, RoleUsage] = {}
        self._lock = threading.Lock()

    def cost_of(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        price = price_of(model, self.prices)
        if price is None:
            return None
        return (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000

    def record(
        self, role: str, model: str, input_tokens: int, output_tokens: int, cached: bool = False
    ) -> float | None:
        """Count one call; returns its cost (None when the model has no price entry)."""
        cost = self.cost_of(model, input_tokens, output_tokens)
        with self._lock:
            usage = self._roles.setdefault(role, RoleUsage())
            usage.calls += 1
            usage.input_tokens += input_tokens
            usage.output_tokens += output_tokens
            if cost is None:
                usage.unpriced_calls += 1
            else:
                usage.cost += cost
            if cached:
                usage.cached_calls += 1
                usage.cached_cost += cost or 0.0
        return cost

    @property
    def roles(self) -> dict[str, RoleUsage]:
        """A copy of the usage of every role that made a call."""
        with self._lock:
            return {role: RoleUsage(**asdict(usage)) for role, usage in self._roles.items()}

    def role(self, role: str) -> RoleUsage:
        return self.roles.get(role, RoleUsage())

    def total(self) -> RoleUsage:
        total = RoleUsage()
        for usage in self.roles.values():
            total.add(usage)
        return total

    def to_dict(self) -> dict[str, Any]:
        """{"roles": {role: counts}, "total": counts}; JSON-serialisable."""
        return {
            "roles": {role: usage.to_dict() for role, usage in self.roles.items()},
            "total": self.total().to_dict(),
        }

    def load_dict(self, state: Mapping[str, Any]) -> None:
        """Restore counts saved by to_dict (a resumed run keeps counting toward its budget)."""
        known = {field.name for field in fields(RoleUsage)}
        restored = {
            role: RoleUsage(**{k: v for k, v in counts.items() if k in known})
            for role, counts in dict(state.get("roles", {})).items()
        }
        with self._lock:
            self._roles = restored

    # copy and pickle: the counts and prices travel, the lock is made anew
    def __getstate__(self) -> dict[str, Any]:
        return {"prices": dict(self.prices), "roles": self.roles}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.prices = state["prices"]
        self._roles = state["roles"]
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        total = self.total()
        return (
            f"Usage(calls={total.calls}, tokens={total.input_tokens}+{total.output_tokens}, "
            f"cost=${total.cost:.4f}, roles={sorted(self.roles)})"
        )
