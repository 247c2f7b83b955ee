"""Reading a stored run: its task, status, score history, best values and totals."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .run_store import LLMCallRecord, RunStore, StepRecord


@dataclass
class RunView:
    folder: Path
    meta: dict[str, str]
    steps: list[StepRecord]
    calls: list[LLMCallRecord]

    @classmethod
    def load(cls, folder: str | Path) -> RunView:
        store = RunStore.open(folder)
        try:
            return cls(store.folder, store.meta(), store.steps(), store.llm_calls())
        finally:
            store.close()

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def status(self) -> str:
        return self.meta.get("status", "?")

    def _feedback_spec(self) -> dict[str, Any]:
        import yaml

        try:
            task = yaml.safe_load(self.meta.get("task_yaml", "")) or {}
            feedback = task.get("feedback", {})
        except (yaml.YAMLError, AttributeError):
            return {}
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
        best_score: float | None = None
        best_values: dict[str, Any] = self.steps[0].values if self.steps else {}
        for record in self.steps:
            if record.score is None:
                continue
            if best_score is None or (record.score > best_score if self.maximize
                                      else record.score < best_score):
                best_score, best_values = record.score, record.values
        return best_score, best_values

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
        }


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, default=repr)
