"""Rendering a graph summary into the problem an LLM optimizer reads: #Instruction, #Code,
#Documentation, #Variables, #Constraints, #Inputs, #Others, #Outputs, #Feedback, with every
value shown with its type, plus the memory of past attempts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from optograph.graph.node import Node
from optograph.graph.preview import preview, type_name
from optograph.graph.summary import Summary

from .validation import is_code_parameter

DEFAULT_OBJECTIVE = (
    "Change the values of the variables in #Variables so that the outputs improve "
    "as #Feedback asks."
)

SYSTEM_PROMPT = """You improve a program by changing its variables. Each problem has these parts:
#Instruction: what to achieve.
#Code: the operations that ran, one per line (`out = op(arg=name, ...)`).
#Documentation: what each operation does.
#Variables: the values you may change.
#Constraints: rules and descriptions for the variables.
#Inputs: fixed values the code read.
#Others: intermediate values computed by the code.
#Outputs: the results that received feedback.
#Feedback: what should be better.
Values appear as `(type) name = value`; `(code) name:` is followed by a function's source.

Reply with one JSON object and nothing else:
{"reasoning": "<how the feedback relates to the variables, and what to change>",
 "answer": "<empty, or TERMINATE when no change can improve the outputs>",
 "suggestion": {"<variable name>": <new value>, ...}}
Give a new value of the variable's type (a list stays a list). Change only variables listed in
#Variables. For code, give the whole function, with the same name and signature."""

TERMINATE = "TERMINATE"


@dataclass
class MemoryItem:
    """One past attempt: the variable values (as shown) and the feedback they got."""

    variables: dict[str, str]
    feedback: str

    def to_dict(self) -> dict[str, Any]:
        return {"variables": self.variables, "feedback": self.feedback}


def render_value(name: str, type_: str, value: Any, is_code: bool, max_chars: int | None) -> str:
    if is_code:
        return f"(code) {name}:\n{value}"
    return f"({type_}) {name} = {show(value, max_chars)}"


def show(value: Any, max_chars: int | None) -> str:
    """A value as the model reads it: text JSON-quoted (so spaces and newlines are visible),
    everything else as Python shows it, cut to max_chars."""
    if isinstance(value, str):
        return preview(json.dumps(value, ensure_ascii=False), max_chars)
    return preview(value, max_chars)


def variables_section(parameters: Sequence[Node], summary: Summary) -> str:
    """Variables are shown whole: the model rewrites them, so it must see all of them."""
    lines = []
    for p in parameters:
        var = summary.variables.get(p.name)
        if var is None:
            continue
        lines.append(render_value(p.name, var.type, var.value, _is_code(p), None))
    return "\n".join(lines)


def constraints_section(parameters: Sequence[Node]) -> str:
    lines = []
    for p in parameters:
        notes = [text for text in (p.constraint, p.description) if text]
        if notes and not _is_code(p):
            lines.append(f"({type_name(p._data)}) {p.name}: {'; '.join(notes)}")
        elif p.constraint:
            lines.append(f"(code) {p.name}: {p.constraint}")
    return "\n".join(lines)


def values_section(values: Mapping[str, str], summary: Summary) -> str:
    lines = []
    for name, shown in values.items():
        attrs = summary.graph.nodes[name] if name in summary.graph else {}
        type_ = "exception" if attrs.get("kind") == "exception" else attrs.get("type", "str")
        text = json.dumps(shown, ensure_ascii=False) if type_ == "str" else shown
        lines.append(f"({type_}) {name} = {text}")
        if name in summary.errors and summary.errors[name]:
            lines.append(f"  where it failed:\n{_indent(summary.errors[name])}")
    return "\n".join(lines)


def problem_sections(
    parameters: Sequence[Node], summary: Summary, objective: str, max_chars: int | None
) -> dict[str, str]:
    """The problem as {section: text}, in order."""
    documentation = "\n".join(f"{op}: {doc}" for op, doc in summary.documentation.items())
    return {
        "Instruction": objective,
        "Code": "\n".join(summary.code),
        "Documentation": documentation,
        "Variables": variables_section(parameters, summary),
        "Constraints": constraints_section(parameters),
        "Inputs": values_section(summary.inputs, summary),
        "Others": values_section(summary.others, summary),
        "Outputs": values_section(summary.outputs, summary),
        "Feedback": summary.feedback_text(),
    }


def render_problem(sections: Mapping[str, str]) -> str:
    return "\n\n".join(f"#{title}\n{text}" for title, text in sections.items())


def render_user_prompt(sections: Mapping[str, str], memory: Iterable[MemoryItem] = ()) -> str:
    parts = [render_problem(sections)]
    past = list(memory)
    if past:
        lines = "\n".join(json.dumps(item.to_dict(), ensure_ascii=False) for item in past)
        parts.append(f"#Past attempts (oldest first)\n{lines}")
    parts.append("Your reply (one JSON object):")
    return "\n\n".join(parts)


def memory_item(parameters: Sequence[Node], summary: Summary, max_chars: int | None) -> MemoryItem:
    variables = {
        name: preview(var.value, max_chars) for name, var in summary.variables.items()
    }
    return MemoryItem(variables, summary.feedback_text())


def reply_json_schema(parameters: Sequence[Node]) -> dict[str, Any]:
    """JSON schema of the reply, so a constrained decoder (the local model) emits it."""
    properties = {p.name: _value_schema(p) for p in parameters}
    return {
        "type": "object",
        "properties": {
            # bounded so a small local model, which writes until the grammar lets it stop,
            # gets to the suggestion within its token budget
            "reasoning": {"type": "string", "maxLength": 300},
            "answer": {"type": "string", "maxLength": 200},
            "suggestion": {
                "type": "object",
                "properties": properties,
                "additionalProperties": False,
            },
        },
        "required": ["reasoning", "answer", "suggestion"],
        "additionalProperties": False,
    }


def _value_schema(p: Node) -> dict[str, Any]:
    value = p._data
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string"}
    if isinstance(value, (list, tuple)):
        return {"type": "array"}
    if isinstance(value, dict):
        return {"type": "object"}
    return {}


def _is_code(p: Node) -> bool:
    return is_code_parameter(p) and isinstance(p._data, str)


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())
