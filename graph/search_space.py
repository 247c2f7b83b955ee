"""The small protocol a parameter's search space follows, so that search optimizers (the
evolutionary one of agent/, the diffusion search) can work on any parameter."""

from __future__ import annotations

import random
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class SearchSpace(Protocol):
    """sample/mutate/crossover make values; validate returns a clean value or raises
    ValueError; key gives a hashable identity (equal keys = the same candidate)."""

    def sample(self, rng: random.Random) -> Any: ...

    def mutate(self, value: Any, rng: random.Random) -> Any: ...

    def crossover(self, a: Any, b: Any, rng: random.Random) -> Any: ...

    def validate(self, value: Any) -> Any: ...

    def key(self, value: Any) -> Hashable: ...


@dataclass(frozen=True)
class IntRange:
    """Integers low..high (inclusive); mutation moves by at most `step`."""

    low: int
    high: int
    step: int = 1

    def sample(self, rng: random.Random) -> int:
        return rng.randint(self.low, self.high)

    def mutate(self, value: int, rng: random.Random) -> int:
        if self.low == self.high:
            return value
        while True:
            moved = min(self.high, max(self.low, value + rng.randint(-self.step, self.step)))
            if moved != value:
                return moved

    def crossover(self, a: int, b: int, rng: random.Random) -> int:
        return rng.choice((a, b))

    def validate(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise ValueError(f"expected an integer; got {value!r}")
        if not self.low <= value <= self.high:
            raise ValueError(f"{value} is outside {self.low}..{self.high}")
        return int(value)

    def key(self, value: int) -> Hashable:
        return value


@dataclass(frozen=True)
class FloatRange:
    """Floats in [low, high]; mutation adds Gaussian noise of `scale` times the width."""

    low: float
    high: float
    scale: float = 0.1

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)

    def mutate(self, value: float, rng: random.Random) -> float:
        width = self.high - self.low
        return min(self.high, max(self.low, value + rng.gauss(0.0, self.scale * width)))

    def crossover(self, a: float, b: float, rng: random.Random) -> float:
        t = rng.random()
        return a * t + b * (1 - t)

    def validate(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number; got {value!r}")
        if not self.low <= value <= self.high:
            raise ValueError(f"{value} is outside [{self.low}, {self.high}]")
        return float(value)

    def key(self, value: float) -> Hashable:
        return round(value, 12)


@dataclass(frozen=True)
class Choice:
    """One of a fixed list of options (prompts, routes, nodes)."""

    options: Sequence[Any]

    def sample(self, rng: random.Random) -> Any:
        return rng.choice(list(self.options))

    def mutate(self, value: Any, rng: random.Random) -> Any:
        others = [o for o in self.options if o != value]
        return rng.choice(others) if others else value

    def crossover(self, a: Any, b: Any, rng: random.Random) -> Any:
        return rng.choice((a, b))

    def validate(self, value: Any) -> Any:
        if value not in self.options:
            raise ValueError(f"{value!r} is not one of {list(self.options)!r}")
        return value

    def key(self, value: Any) -> Hashable:
        return repr(value)
