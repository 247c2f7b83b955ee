"""Scripted chat models for the tasks tests (importable by file path: `--llm
python:tests/tasks/tasks_scripted_models.py:NAME`)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult


class ScriptedToolModel(BaseChatModel):
    """Replies from a script: each entry is either a tool call {"tool": name, "args": {...}}
    or a final answer text. A final answer may contain {last_tool_result}, filled from the
    latest tool message, so tests can check that results reach the model."""

    script: list[Any]
    position: int = 0
    seen: list[list[str]] = []

    @property
    def _llm_type(self) -> str:
        return "scripted-tools"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedToolModel:
        return self

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        self.seen.append([m.type for m in messages])
        entry = self.script[self.position % len(self.script)]
        self.position += 1
        if isinstance(entry, dict):
            message = AIMessage("", tool_calls=[{"name": entry["tool"], "args": entry["args"],
                                                 "id": f"call_{self.position}"}])
        else:
            tools = [m for m in messages if isinstance(m, ToolMessage)]
            last = str(tools[-1].content) if tools else ""
            message = AIMessage(str(entry).replace("{last_tool_result}", last))
        return ChatResult(generations=[ChatGeneration(message=message)])


def chat_lists_then_validates() -> ScriptedToolModel:
    return ScriptedToolModel(script=[
        {"tool": "list_tasks", "args": {"folder": "tasks/examples"}},
        {"tool": "validate_task", "args": {"path": "tasks/examples/numeric.yaml"}},
        "Validation said: {last_tool_result}",
    ])


class JsonOnlyModel(BaseChatModel):
    """A model without native tool calling that answers in the JSON protocol of
    JsonToolCaller: first a tool call, then a final answer."""

    replies: list[str] = [
        json.dumps({"tool": "list_tasks", "arguments": {"folder": "tasks/examples"},
                    "answer": ""}),
        json.dumps({"tool": "none", "arguments": {}, "answer": "There is a numeric task."}),
    ]
    position: int = 0

    @property
    def _llm_type(self) -> str:
        return "scripted-json"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        reply = self.replies[self.position % len(self.replies)]
        self.position += 1
        return ChatResult(generations=[ChatGeneration(message=AIMessage(reply))])


CAPITALS = {"France": "Paris", "Japan": "Tokyo", "Italy": "Rome", "Germany": "Berlin",
            "Spain": "Madrid", "Egypt": "Cairo", "Canada": "Ottawa", "Australia": "Canberra"}


class TaskModel(BaseChatModel):
    """One scripted model for both roles of a task run. An optimizer prompt (it names the
    #Variables) gets the next reply of `suggestions` (the last one repeats); a question gets
    the capital, bare when the system prompt asks for "only" the name, in a sentence else."""

    suggestions: list[str] = []
    position: int = 0
    delay_s: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "scripted-task"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        import time

        time.sleep(self.delay_s)
        text = "\n".join(str(m.content) for m in messages)
        if "#Variables" in text or "suggestion" in text:
            reply = self.suggestions[min(self.position, len(self.suggestions) - 1)]
            self.position += 1
        else:
            country = next((c for c in CAPITALS if c in str(messages[-1].content)), None)
            city = CAPITALS.get(country or "", "I do not know")
            system = str(messages[0].content).lower()
            reply = city if "only" in system else f"The capital of {country} is {city}."
        return ChatResult(generations=[ChatGeneration(message=AIMessage(reply))])


def _suggest(name: str, value: Any) -> str:
    return json.dumps({"reasoning": "scripted", "answer": "",
                       "suggestion": {name: value}})


def numeric_optimizer() -> TaskModel:
    """Suggests x = 5 (foobar(5) = 90 >= 50, the target)."""
    return TaskModel(suggestions=[_suggest("x", 5.0)])


def slow_numeric_optimizer() -> TaskModel:
    """Walks x up slowly (never reaching the target), 0.3 s per call: for kill tests."""
    return TaskModel(suggestions=[_suggest("x", -1.0 - 0.01 * i) for i in range(1, 200)],
                     delay_s=0.3)


def prompt_optimizer() -> TaskModel:
    return TaskModel(suggestions=[_suggest("prompt", "Answer with only the name of the city.")])


def broken_optimizer() -> TaskModel:
    """Never gives a usable reply (every step ends without an update)."""
    return TaskModel(suggestions=["I am not sure what to do."])


FIXED_CODE = '''def strange_sort_list(lst):
    rest = sorted(lst)
    out = []
    while rest:
        out.append(rest.pop(0))
        if rest:
            out.append(rest.pop())
    return out
'''


def code_optimizer() -> TaskModel:
    """First a still-wrong version (in place sort, no alternation), then the fix."""
    wrong = "def strange_sort_list(lst):\n    return sorted(lst)\n"
    return TaskModel(suggestions=[_suggest("code", wrong), _suggest("code", FIXED_CODE)])


def _qa_answers() -> dict[str, dict[str, Any]]:
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "tasks" / "examples" / "data" / "qa_questions.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {row["question"]: row for row in rows}


class QAGraphModel(BaseChatModel):
    """Plays every role of the LangGraph QA example: optimizer (suggests an answer prompt
    asking for "the plain fact"), classifier, answerer (right only under that prompt) and
    checker (accepts anything but "I am not sure")."""

    position: int = 0

    @property
    def _llm_type(self) -> str:
        return "scripted-qa-graph"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        text = "\n".join(str(m.content) for m in messages)
        answers = _qa_answers()
        question = next((q for q in answers if q in text), None)
        system = str(messages[0].content).lower() if messages[0].type == "system" else ""
        if "#Variables" in text:
            reply = _suggest("answer_prompt", "Answer the {category} question: the plain fact only.")
        elif "categories" in system and question:
            reply = answers[question]["category"]
        elif "Proposed answer:" in text:
            reply = "no" if "I am not sure" in text else "yes"
        elif question and "plain fact" in system:
            reply = answers[question]["answer"]
        else:
            reply = "I am not sure."
        return ChatResult(generations=[ChatGeneration(message=AIMessage(reply))])


class LoopingJsonModel(BaseChatModel):
    """Asks for the same tool forever (as small models do), with junk extra arguments."""

    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "scripted-looping"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        self.calls += 1
        reply = json.dumps({"tool": "list_runs", "arguments": {"store": "runs", "type": "string",
                                                              "title": f"x{self.calls}"},
                            "answer": ""})
        return ChatResult(generations=[ChatGeneration(message=AIMessage(reply))])


ROUTER_GUIDE = ("billing: invoice, charge, refund, payment\n"
                "technical: error, crash, slow, sync\n"
                "account: password, email, delete, log in")


def router_optimizer() -> TaskModel:
    """For ticket_router.yaml: a routing guide with a keyword for every shipped ticket."""
    return TaskModel(suggestions=[_suggest("prompt", ROUTER_GUIDE)])


def prose_code_optimizer() -> TaskModel:
    """Suggests prose, not code, for the code parameter (what a small model does)."""
    return TaskModel(suggestions=[_suggest("code", "Sort the list, then alternate min and max.")])


class CapitalsOnlyModel(TaskModel):
    """A workflow model of its own (another name in the call log): answers with the capital."""

    @property
    def _llm_type(self) -> str:
        return "scripted-capitals"


def capitals_model() -> CapitalsOnlyModel:
    return CapitalsOnlyModel(suggestions=["unused"])


class OutageModel(TaskModel):
    """A provider that is down while the file named by $OPTOGRAPH_TEST_OUTAGE exists: each
    optimizer call raises ConnectionError (transient, so the LLM layer retries it first)."""

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        flag = os.environ.get("OPTOGRAPH_TEST_OUTAGE")
        if flag and os.path.exists(flag) and "#Variables" in str(messages[-1].content):
            raise ConnectionError("provider outage (scripted)")
        return super()._generate(messages, stop, run_manager, **kwargs)


def outage_numeric_optimizer() -> OutageModel:
    return OutageModel(suggestions=[_suggest("x", -1.0 - 0.01 * i) for i in range(1, 200)])
