"""The pieces of the evolutionary search: stages, candidates and their ranking."""

from __future__ import annotations

import json
from collections.abc import Hashable
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
