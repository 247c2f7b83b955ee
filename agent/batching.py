"""Minibatches: which examples a step runs, how they run (through the executor), and how
their feedback combines into the step's score and text. The task runner and
`optimize_langgraph` both use this module; the loop (agent/loop.py) combines the feedback of a
workflow that returns one output per example with `combine_feedback`.

- `Minibatches(items, batch_size).batch(step)`: step k takes `batch_size` items starting at
  `k * batch_size`, cycling through the items (all of them when batch_size is None).
- `run_batch(executor, fn, items)`: `fn(item)` for every item, at most max_concurrency at
  once. Each item is traced in a run of its own, then the nodes of its output's graph are
  renamed into the caller's run in item order, so the step's graph (and the prompt an optimizer builds from
  it) is the same whatever the concurrency and the finishing order.
- `combine_feedback(results)`: the mean of the scores given (None when none is), and one
  line per item."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from optograph.graph.node import Node, feedback_text
from optograph.graph.run import Run, current_run

from .errors import OptimizerError
from .executor import Admit, Executor, NotRun
from .feedback import FeedbackResult

T = TypeVar("T")
R = TypeVar("R")


class Minibatches:
    def __init__(self, items: Sequence[Any], batch_size: int | None = None,
                 where: str = "batch_size") -> None:
        if batch_size is not None and (isinstance(batch_size, bool) or batch_size < 1):
            raise OptimizerError(f"{where}: expected a whole number >= 1, got {batch_size!r}")
        self.items = list(items)
        self.size = len(self.items) if not batch_size else min(batch_size, len(self.items))

    def batch(self, step: int) -> list[Any]:
        """The items of step `step` (0-based), cycling."""
        if not self.items:
            return []
        start = (step * self.size) % len(self.items)
        return [self.items[(start + i) % len(self.items)] for i in range(self.size)]


def takes_example(feedback: Callable[..., Any]) -> bool:
    """Whether a feedback function takes (output, example) rather than (output)."""
    try:
        params = list(inspect.signature(feedback).parameters.values())
    except (TypeError, ValueError):
        return True
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2


def _base(name: str) -> str:
    head, sep, tail = name.rpartition(":")
    return head if sep and tail.isdigit() else name


def run_batch(
    executor: Executor,
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    admit: Admit | None = None,
) -> list[R | NotRun]:
    """`fn(item)` for every item through the executor, each traced in its own run; the nodes
    are then renamed into the current run in item order (see the module doc). An exception
    of an item is raised (the first in item order) after the running items finish."""
    runs = [Run(f"item{index}") for index in range(len(items))]

    def one(pair: tuple[int, T]) -> R:
        index, item = pair
        with runs[index]:
            return fn(item)

    results = executor.map(one, list(enumerate(items)), admit=admit)
    shared = current_run()
    for run, result in zip(runs, results, strict=True):
        if isinstance(result, Node):  # its graph: the nodes the item's run made, in order
            made = [n for n in result.ancestors(include_self=True) if n.run is run]
            for node in sorted(made, key=lambda n: n.order):
                shared.admit(node, _base(node.name))
    return results  # type: ignore[return-value]


def combine_feedback(results: Sequence[FeedbackResult]) -> FeedbackResult:
    """One step's feedback from its items': the mean score of those that have one, and the
    items' texts (one item: its text; several: `[i] text` lines)."""
    scores = [r.score for r in results if r.score is not None]
    score = sum(scores) / len(scores) if scores else None
    texts = [feedback_text(r.value) for r in results]
    text = texts[0] if len(texts) == 1 else "\n".join(f"[{i}] {t}" for i, t in enumerate(texts))
    return FeedbackResult(text, score)
