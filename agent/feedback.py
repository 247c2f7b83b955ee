"""The feedback convention shared by the optimizers and the loop.

A feedback function (or `node.backward`) gives one of:
  - text                      -> a message; no score
  - a number                  -> the score
  - (score, text)             -> both (the loop's feedback functions only; backward takes one value)
  - a dict with a "score" key -> the score; the other entries are shown as text
  - a FeedbackResult          -> as it is (built-in feedback functions return these)
Text that is only a number ("0.25") counts as that score, everywhere (Python API, task files,
LangGraph). A failed workflow is not scored: its error is the feedback.

Scores are compared with `minimize` (True: lower is better, a loss; False: higher is better)
through `is_better` / `sort_key` only: NaN is never best, and anything beats no score. A score
has no direction of its own: `check_direction` makes callers say which way it goes."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from optograph.graph.node import Node

from .errors import OptimizerError


@dataclass(frozen=True)
class FeedbackResult:
    """What a feedback function said: the value given to `backward`, and its score if any."""

    value: str | float | dict[str, Any]
    score: float | None


def parse_feedback(result: Any, where: str = "feedback function") -> FeedbackResult:
    """Normalise a feedback function's return value (see the module doc)."""
    if isinstance(result, FeedbackResult):
        return result
    if isinstance(result, tuple):
        if len(result) != 2:
            raise OptimizerError(f"{where}: a tuple must be (score, text); got {len(result)} items")
        score, text = result
        number = _number(score)
        if number is None:
            raise OptimizerError(f"{where}: (score, text) needs a number first; got {score!r:.60}")
        return FeedbackResult({"score": number, "feedback": str(text)}, number)
    if isinstance(result, bool) or result is None:
        raise OptimizerError(
            f"{where}: expected text, a number, (score, text) or a dict with 'score'; got {result!r}"
        )
    if isinstance(result, (int, float)):
        return FeedbackResult(float(result), float(result))
    if isinstance(result, str):
        return FeedbackResult(result, _number(result))
    if isinstance(result, dict):
        clean: dict[str, Any] = {}
        for key, item in result.items():
            if not isinstance(item, (str, int, float)) or isinstance(item, bool):
                item = str(item)
            clean[str(key)] = item
        score = _number(clean["score"]) if "score" in clean else None
        if "score" in clean and score is None:
            raise OptimizerError(f"{where}: 'score' must be a number; got {clean['score']!r:.60}")
        return FeedbackResult(clean, score)
    raise OptimizerError(
        f"{where}: expected text, a number, (score, text) or a dict with 'score'; "
        f"got {type(result).__name__}"
    )


def score_of(value: Any) -> float | None:
    """The score carried by one feedback value, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return _number(value)
    if isinstance(value, dict) and "score" in value:
        return _number(value["score"])
    return None


def score_from_parameters(parameters: Iterable[Node]) -> float | None:
    """The score in the feedback the parameters received: the sum over the outputs that
    gave a score (each output counted once), or None when no feedback carried one."""
    seen: set[int] = set()
    total: float | None = None
    for p in parameters:
        for item in p.feedback:
            if id(item) in seen:
                continue
            seen.add(id(item))
            score = score_of(item.value)
            if score is not None:
                total = score if total is None else total + score
    return total


def is_better(a: float, b: float | None, minimize: bool) -> bool:
    """Whether score a beats b (NaN never beats anything; anything beats None or NaN)."""
    if math.isnan(a):
        return False
    if b is None or math.isnan(b):
        return True
    return a < b if minimize else a > b


def sort_key(score: float | None, minimize: bool) -> float:
    """A key that sorts the best score first (NaN and None last), for sorted()/min()."""
    if score is None or math.isnan(score):
        return math.inf
    return score if minimize else -score


def best_index(scores: Iterable[float | None], minimize: bool) -> int | None:
    """The position of the best score (the first of equals), or None when none is a score."""
    best: int | None = None
    best_score: float | None = None
    for index, score in enumerate(scores):
        if score is not None and is_better(score, best_score, minimize):
            best, best_score = index, score
    return best if best_score is not None and not math.isnan(best_score) else None


def reached(score: float | None, target: float | None, minimize: bool) -> bool:
    """Whether `score` reaches `target` (equal counts)."""
    if score is None or target is None or math.isnan(score):
        return False
    return score == target or is_better(score, target, minimize)


def direction_text(minimize: bool) -> str:
    return "lower is better" if minimize else "higher is better"


def describe_score(score: float | None, minimize: bool, target: float | None = None) -> str:
    """`12 (higher is better, target 50, not reached)`: a score as a user should read it."""
    shown = "-" if score is None else f"{score:.6g}"
    parts = [direction_text(minimize)]
    if target is not None:
        parts.append(f"target {target:g}, {'reached' if reached(score, target, minimize) else 'not reached'}")
    return f"{shown} ({', '.join(parts)})"


def check_direction(minimize: bool | None, maximize: bool | None, where: str,
                    default: bool | None = None) -> bool:
    """`minimize` from minimize=/maximize= (they must agree), else `default` (a declared
    direction, e.g. the optimizer's own); an OptimizerError when nothing says which way."""
    if minimize is not None and maximize is not None and bool(minimize) == bool(maximize):
        raise OptimizerError(f"{where}: minimize={minimize} and maximize={maximize} disagree")
    if minimize is not None:
        return bool(minimize)
    if maximize is not None:
        return not maximize
    if default is not None:
        return default
    raise OptimizerError(
        f"{where}: which way is better? A score has no direction of its own: pass "
        "minimize=True (lower is better, a loss) or maximize=True (higher is better, accuracy)"
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None
