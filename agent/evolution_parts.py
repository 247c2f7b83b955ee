"""The pieces of the evolutionary search: stages, candidates, their ranking, and the genetic
operators of a stage (sample, mutate, cross)."""

from __future__ import annotations

import json
import random
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from optograph.graph.search_space import SearchSpace

from .errors import OptimizerError
from .feedback import sort_key

Candidate = dict[str, Any]
# attempts per wanted child before a generation is accepted short (a small space is exhausted)
ATTEMPTS_PER_CHILD = 20


@dataclass
class Stage:
    """`generations` generations searching the parameters named in `spaces` (with those
    spaces); the other parameters stay at the best value found so far. spaces=None searches
    every parameter in its own `node.search_space`."""

    generations: int
    spaces: dict[str, SearchSpace] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.generations, int) or self.generations < 1:
            raise OptimizerError(f"Stage: generations must be a positive integer; got {self.generations!r}")


@dataclass
class Entry:
    index: int
    values: Candidate
    key: Hashable
    score: float | None = None
    issued: bool = False


@dataclass
class StageRun:
    stage: Stage
    spaces: dict[str, SearchSpace]  # the searched parameters of this stage
    fixed: Candidate  # values of the parameters not searched in this stage
    generation: int = 0  # generations started in this stage
    pool: list[Entry] = field(default_factory=list)

    def fits(self, values: Candidate, name: str) -> bool:
        """Whether values[name] lies in this stage's space for it (always, when not searched)."""
        if name not in self.spaces:
            return True
        try:
            self.spaces[name].validate(values[name])
        except (ValueError, TypeError):
            return False
        return True

    def sample(self, rng: random.Random, order: Sequence[str]) -> Candidate:
        """A random child: each searched parameter drawn from its space, the rest fixed."""
        values = dict(self.fixed)
        for name, space in self.spaces.items():
            values[name] = space.sample(rng)
        return {name: values[name] for name in order}

    def mutate(self, parent: Candidate, rng: random.Random, probability: float) -> Candidate:
        """The parent with each searched parameter mutated with `probability` (at least one)."""
        values = dict(parent)
        names = list(self.spaces)
        chosen = [n for n in names if rng.random() < probability]
        if not chosen and names:
            chosen = [rng.choice(names)]
        for name in chosen:
            values[name] = self.spaces[name].mutate(values[name], rng)
        return values

    def cross(self, parents: list[Entry], rng: random.Random) -> Candidate:
        """Two distinct parents mixed, parameter by parameter, by each space's crossover."""
        a, b = rng.sample(parents, 2)
        values = dict(a.values)
        for name, space in self.spaces.items():
            values[name] = space.crossover(a.values[name], b.values[name], rng)
        return values


class ReprKey:
    """Key for a parameter with no search space in a stage (it is fixed there)."""

    @staticmethod
    def key(value: Any) -> Hashable:
        return repr(value)


def rank(entry: Entry, minimize: bool) -> tuple[float, int]:
    """Best first (the one rule of agent/feedback.py: NaN and no score last), then the
    earlier candidate."""
    return (sort_key(entry.score, minimize), entry.index)


def jsonable(values: Candidate) -> Candidate:
    try:
        json.dumps(values)
    except (TypeError, ValueError):
        return {}
    return values
