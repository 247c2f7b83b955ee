"""Reading a stored run: its task, status, score history, best values and totals."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optograph.agent.feedback import best_index, describe_score

from .errors import TaskError
from .run_lock import is_held
from .run_store import LLMCallRecord, RunStore, StepRecord
from .yaml_lines import parse_yaml


@dataclass
class RunView:
    folder: Path
    meta: dict[str, str]
    steps: list[StepRecord]
    calls: list[LLMCallRecord]
    train_scores: dict[int, float | None] = field(default_factory=dict)  # with a validation split

    @classmethod
    def load(cls, folder: str | Path) -> RunView:
        store = RunStore.open(folder, readonly=True)
        try:
            return cls(store.folder, store.meta(), store.steps(), store.llm_calls(),
                       store.train_scores())
        finally:
            store.close()

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def status(self) -> str:
        """The stored status; "running" only while a live process holds the run's lock
        (a run killed with -9 is "interrupted")."""
        status = self.meta.get("status", "?")
        if status == "running" and not is_held(self.folder):
            return "interrupted"
        return status

    def _feedback_spec(self) -> dict[str, Any]:
        try:
            located = parse_yaml(self.meta.get("task_yaml", ""), f"{self.folder} (stored task)")
        except TaskError:
            return {}
        task = located.data if located is not None else None
        feedback = task.get("feedback", {}) if isinstance(task, dict) else {}
        return feedback if isinstance(feedback, dict) else {}

    @property
    def maximize(self) -> bool:
        from .task_file import LOWER_IS_BETTER

        spec = self._feedback_spec()
        return bool(spec.get("maximize", spec.get("builtin") not in LOWER_IS_BETTER))

    @property
    def target(self) -> float | None:
        target = self._feedback_spec().get("target")
        return float(target) if isinstance(target, (int, float)) else None

    def best(self) -> tuple[float | None, dict[str, Any]]:
        """The best score and its values, by the one rule (agent/feedback.py: NaN is never
        best); no score yet: None and the first values."""
        index = best_index([r.score for r in self.steps], not self.maximize)
        if index is None:
            return None, self.steps[0].values if self.steps else {}
        return self.steps[index].score, self.steps[index].values

    def describe(self, score: float | None) -> str:
        """`12 (higher is better, target 50, not reached)`."""
        return describe_score(score, not self.maximize, self.target)

    def totals(self) -> dict[str, Any]:
        last = self.steps[-1] if self.steps else None
        usage = last.optimizer_state.get("usage", {}) if last else {}
        return {"tokens": last.tokens if last else 0, "cost": last.cost if last else 0.0,
                "usage": usage, "llm_calls": len(self.calls)}

    def summary_line(self) -> str:
        score, _ = self.best()
        best = "-" if score is None else f"{score:.6g}"
        return (f"{self.name:<40} {self.meta.get('task_name', '?'):<20} {self.status:<12} "
                f"{len(self.steps):>5} {best:>10}  {self.meta.get('created', '')}")

    def to_dict(self) -> dict[str, Any]:
        score, values = self.best()
        return {
            "run": str(self.folder), "task": self.meta.get("task_name"), "status": self.status,
            "created": self.meta.get("created"), "steps": len(self.steps),
            "best_score": score, "best_parameters": values,
            "scores": [r.score for r in self.steps], **self.totals(),
            **({"train_scores": [self.train_scores.get(r.step) for r in self.steps]}
               if self.train_scores else {}),
        }


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, default=repr)
