"""OPRO (Optimization by PROmpting): the model sees the values tried so far with their scores,
sorted so the best comes last, and proposes values that should score better. It reads no
graph; the score comes from the feedback (a number, or a dict with "score")."""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from optograph.graph.node import Node
from optograph.graph.preview import preview, type_name
from optograph.graph.summary import Summary, summarize

from .errors import OptimizerError
from .feedback import direction_text, score_from_parameters, sort_key
from .optimizer import check_state_type
from .optoprime import OptoPrime
from .prompt import render_value
from .validation import is_code_parameter

OPRO_SYSTEM_PROMPT = """You optimize the values of some variables for a score. You see each
variable with its type and constraints, and earlier values with the score each got, ordered
from worst to best (the best is last). Propose new values, different from all earlier ones,
that you expect to score better than the best so far.

Reply with one JSON object and nothing else:
{"reasoning": "<what the scores suggest>", "answer": "<empty, or TERMINATE to stop>",
 "suggestion": {"<variable name>": <new value>, ...}}
Keep each variable's type (a list stays a list)."""


class OPRO(OptoPrime):
    """history_size bounds the pairs kept and shown (the best ones are kept).
    Other options as OptoPrime's (llm, objective, retries, on_invalid, candidates, ...)."""

    def __init__(
        self, parameters: Any, llm: Any = None, *, history_size: int = 20, **options: Any
    ) -> None:
        options.setdefault("system_prompt", OPRO_SYSTEM_PROMPT)
        options.setdefault("objective", "Find the values with the best score.")
        super().__init__(parameters, llm, **options)
        if history_size < 1:
            raise OptimizerError(f"OPRO(history_size={history_size}): must be >= 1")
        self.history_size = history_size
        self.history: list[tuple[dict[str, Any], float]] = []  # worst first, best last

    def step(self) -> dict[Node, Any]:
        score = score_from_parameters(self.parameters)
        if score is None:
            raise OptimizerError(
                "OPRO.step: the feedback has no score; give backward() a number or a dict "
                "with 'score'"
            )
        self.record(self.values(), score)
        return super().step()

    def record(self, values: dict[str, Any], score: float) -> None:
        """Add a (values, score) pair; the history keeps the best `history_size` pairs."""
        shown = {name: _jsonable(v) for name, v in values.items()}
        self.history = [(v, s) for v, s in self.history if v != shown]
        self.history.append((shown, float(score)))
        self.history.sort(key=lambda item: sort_key(item[1], self.minimize), reverse=True)
        del self.history[: max(len(self.history) - self.history_size, 0)]

    @property
    def best(self) -> tuple[dict[str, Any], float] | None:
        return self.history[-1] if self.history else None

    def messages(self, summary: Summary | None = None) -> list[BaseMessage]:
        if summary is None:
            summary = summarize(self.parameters, max_nodes=self.max_nodes, max_chars=self.max_chars)
        variables = []
        for p in self.parameters:
            code = is_code_parameter(p) and isinstance(p._data, str)
            line = render_value(p.name, type_name(p._data), p._data, code, self.max_chars)
            notes = "; ".join(text for text in (p.constraint, p.description) if text)
            variables.append(line + (f"    # {notes}" if notes else ""))
        direction = direction_text(self.minimize)
        past = "\n".join(
            f"{json.dumps(values, ensure_ascii=False)} -> score {score:g}"
            for values, score in self.history
        )
        parts = [
            f"#Instruction\n{self.objective}",
            "#Variables\n" + "\n".join(variables),
            f"#History (score: {direction}; best last)\n{past or '(none yet)'}",
        ]
        if summary.feedback:
            parts.append(f"#Feedback\n{summary.feedback_text()}")
        parts.append("Your reply (one JSON object):")
        return [SystemMessage(content=self.system_prompt), HumanMessage(content="\n\n".join(parts))]

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["history"] = [[values, score] for values, score in self.history]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state_type(self, state)
        super().load_state_dict(state)
        try:
            self.history = [(dict(v), float(s)) for v, s in state.get("history", [])]
        except (TypeError, ValueError) as exc:
            raise OptimizerError(f"OPRO.load_state_dict: bad history ({exc})") from None


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return preview(value, 500)
    return value
