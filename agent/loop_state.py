"""The checkpointed state of the optimization loop, its stop rules, and its result."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from optograph.graph.node import Node

from .errors import OptimizerError
from .feedback import reached
from .validation import coerce


class LoopState(TypedDict, total=False):
    step: int  # optimizer steps completed
    values: dict[str, Any]  # current parameter values
    evaluated_values: dict[str, Any]  # the values the current score belongs to
    optimizer_state: dict[str, Any]
    workflow_error: str | None  # the failure of the step's workflow, if it failed
    score: float | None  # the step's score (on the validation split when there is one)
    train_score: float | None  # the minibatch's score, when a validation split decides
    feedback: str
    updates: dict[str, Any]  # what the last step changed (previews)
    best_score: float | None
    best_step: int | None
    best_values: dict[str, Any]
    no_improvement: int  # evaluations since the best one
    evaluated_steps: int
    history: list[dict[str, Any]]  # one entry per evaluation
    note: str | None  # why the last step changed nothing (an unusable reply it skipped)
    usage: dict[str, Any]
    stop_reason: str | None


@dataclass
class StopRules:
    steps: int
    target: float | None = None
    patience: int | None = None
    max_tokens: int | None = None
    max_cost: float | None = None
    minimize: bool = True

    def stop_reason(self, state: dict[str, Any], usage: Any, optimizer: Any) -> str | None:
        """Why the loop stops after this evaluation, or None to go on."""
        score = state.get("score")
        if reached(score, self.target, self.minimize):
            return f"target {self.target:g} reached (score {score:g})"
        if state.get("step", 0) >= self.steps:
            return f"{self.steps} steps done"
        if self.patience is not None and state.get("no_improvement", 0) >= self.patience:
            return f"no improvement for {self.patience} evaluations"
        budget = self.budget_reason(usage)
        if budget:
            return budget
        if getattr(optimizer, "terminated", False):
            return "the optimizer answered TERMINATE"
        if getattr(optimizer, "done", False):
            return "the search is complete"
        return None

    def budget_reason(self, usage: Any) -> str | None:
        """Why no more LLM work may start (a token or cost budget is spent), or None."""
        if usage is None or (self.max_tokens is None and self.max_cost is None):
            return None
        total = usage.total()
        if self.max_tokens is not None and total.total_tokens >= self.max_tokens:
            return f"token budget {self.max_tokens} spent ({total.total_tokens})"
        if self.max_cost is not None and total.cost >= self.max_cost:
            return f"cost budget ${self.max_cost:g} spent (${total.cost:.4f})"
        return None


@dataclass
class OptimizationResult:
    """steps: optimizer steps done; history: one dict per evaluation (step, score, feedback,
    values, updates); best_*: the best-scoring evaluation (None without scores)."""

    steps: int
    stop_reason: str | None
    best_score: float | None
    best_step: int | None
    best_values: dict[str, Any]
    final_values: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    optimizer_state: dict[str, Any] = field(default_factory=dict)
    thread_id: str = "main"
    checkpoint: str | None = None

    @classmethod
    def from_state(
        cls, state: dict[str, Any], thread_id: str, checkpoint: str | Path | None
    ) -> OptimizationResult:
        return cls(
            steps=int(state.get("step", 0)),
            stop_reason=state.get("stop_reason"),
            best_score=state.get("best_score"),
            best_step=state.get("best_step"),
            best_values=dict(state.get("best_values") or {}),
            final_values=dict(state.get("values") or {}),
            history=list(state.get("history") or []),
            usage=dict(state.get("usage") or {}),
            optimizer_state=dict(state.get("optimizer_state") or {}),
            thread_id=thread_id,
            checkpoint=str(checkpoint) if checkpoint is not None else None,
        )

    @property
    def scores(self) -> list[float | None]:
        return [entry.get("score") for entry in self.history]


def jsonable_values(parameters: list[Node]) -> dict[str, Any]:
    """The parameters' values as JSON data (the checkpoint stores them)."""
    values = {}
    for p in parameters:
        to_dict = getattr(p._data, "to_dict", None)
        if callable(to_dict) and p.search_space is not None:  # a search-space value object
            values[p.name] = to_dict()
            continue
        try:
            json.dumps(p._data)
        except (TypeError, ValueError):
            raise OptimizerError(
                f"optimize: parameter {p.name!r} holds {type(p._data).__name__}, which is not "
                "JSON-serialisable; the loop's checkpoint cannot store it"
            ) from None
        values[p.name] = p._data
    return values


def restore_values(parameters: list[Node], values: dict[str, Any]) -> None:
    """Set parameters from stored values, giving back types JSON loses (a tuple stays a tuple)."""
    for p in parameters:
        if p.name in values:
            stored = values[p.name]
            if p.search_space is not None:  # the space turns stored data back into its value
                try:
                    p.set(p.search_space.validate(stored))
                    continue
                except (ValueError, TypeError):
                    pass
            try:
                value = coerce(p._data, stored) if type(stored) is not type(p._data) else stored
            except ValueError:
                value = stored
            p.set(value)
