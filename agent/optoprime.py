"""OptoPrime: the LLM optimizer of the Trace paper. Each step renders the summary of the graph
between the parameters and the outputs that got feedback, asks the model for a reasoning, an
answer and a suggestion, validates every suggested value, and applies all of them or none."""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from optograph.graph.errors import OptographError
from optograph.graph.node import Node
from optograph.graph.run import parameter_values
from optograph.graph.summary import Summary, summarize

from .errors import OptimizerError
from .executor import Executor
from .feedback import best_index, parse_feedback
from .llm import LLM
from .llm.messages import message_text
from .optimizer import Optimizer, check_state_type
from .prompt import (
    DEFAULT_OBJECTIVE,
    SYSTEM_PROMPT,
    MemoryItem,
    memory_item,
    problem_sections,
    render_user_prompt,
    reply_json_schema,
)
from .reply_parser import Reply, ReplyFormatError, parse_reply
from .validation import validate_suggestion

logger = logging.getLogger(__name__)

OnInvalid = Literal["raise", "skip"]


def as_llm(llm: str | BaseChatModel | LLM | None, role: str = "optimizer") -> LLM:
    """An LLM for a spec string, a LangChain chat model, an LLM (kept as is) or None (local)."""
    return llm if isinstance(llm, LLM) else LLM(llm, role=role)


class OptoPrime(Optimizer):
    """LLM optimizer over any parameters.

    llm: "provider:model", a LangChain chat model, an optograph LLM, or None (local model).
    objective: the #Instruction. memory_size: past (values, feedback) pairs shown.
    max_retries: times an unusable reply is sent back with its error before giving up.
    on_invalid: "raise" an OptimizerError then (parameters unchanged), or "skip" the step
      (logged, parameters unchanged). candidates > 1 asks for that many different suggestions
      and keeps the best by `evaluate()` (re-runs the workflow; returns a score, (score, text)
      or a dict with "score"; lower is better unless minimize=False); optimize() sets
      evaluate from its workflow and feedback function when it is not given. The candidates
      are evaluated through `executor` (agent/executor.py; optimize() gives its own, else
      one at a time), each reading its values in a block of its own (parameter_values), so
      they run at once without changing the parameters; the first best in proposal order wins.
    max_nodes / max_chars bound the summary; llm_params go to every call (temperature, ...)."""

    def __init__(
        self,
        parameters: Any,
        llm: str | BaseChatModel | LLM | None = None,
        *,
        objective: str | None = None,
        memory_size: int = 0,
        max_retries: int = 2,
        on_invalid: OnInvalid = "raise",
        candidates: int = 1,
        evaluate: Callable[[], Any] | None = None,
        executor: Executor | None = None,
        minimize: bool | None = None,
        max_nodes: int | None = None,
        max_chars: int | None = 500,
        system_prompt: str = SYSTEM_PROMPT,
        constrain_json: bool = True,
        llm_params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(parameters)
        if on_invalid not in ("raise", "skip"):
            raise OptimizerError(f"OptoPrime(on_invalid={on_invalid!r}): expected 'raise' or 'skip'")
        if candidates < 1:
            raise OptimizerError(f"OptoPrime(candidates={candidates}): must be >= 1")
        if max_retries < 0 or memory_size < 0:
            raise OptimizerError("OptoPrime: max_retries and memory_size must be >= 0")
        self.llm = as_llm(llm)
        self.objective = objective or DEFAULT_OBJECTIVE
        self.memory: deque[MemoryItem] = deque(maxlen=memory_size or None)
        self.memory_size = memory_size
        self.max_retries = max_retries
        self.on_invalid: OnInvalid = on_invalid
        self.candidates = candidates
        self.evaluate = evaluate
        self.executor = executor
        self.minimize = True if minimize is None else bool(minimize)
        self.direction_declared = minimize is not None  # None: optimize() decides
        self.max_nodes, self.max_chars = max_nodes, max_chars
        self.system_prompt = system_prompt
        self.constrain_json = constrain_json
        self.llm_params = dict(llm_params or {})
        self.steps_done = 0
        self.terminated = False
        self.log: list[dict[str, Any]] = []  # every call: messages, reply, error, step, ...
        self.last_reply: Reply | None = None
        self.skip_reason: str | None = None  # why the last step was skipped (on_invalid="skip")

    # -- the contract ------------------------------------------------------------------------
    def step(self) -> dict[Node, Any]:
        self.skip_reason = None
        summary = summarize(self.parameters, max_nodes=self.max_nodes, max_chars=self.max_chars)
        if not summary.feedback:
            raise OptimizerError(
                "OptoPrime.step: the parameters received no feedback; call backward() on an "
                "output first"
            )
        messages = self.messages(summary)
        proposals: list[dict[Node, Any]] = []
        try:
            for index in range(self.candidates):
                asked = messages if index == 0 else [*messages, _different_from(proposals)]
                reply, updates = self._propose(asked, index)
                if reply.terminate:
                    if index == 0:
                        self.terminated = True
                        return self._finish(summary, {})
                    break
                proposals.append(updates)
        except OptimizerError as error:
            if self.on_invalid == "raise":
                raise
            logger.warning("OptoPrime step %d skipped: %s", self.steps_done + 1, error)
            self.skip_reason = str(error)
            return self._finish(summary, {})
        chosen = proposals[0] if len(proposals) == 1 else self._best_of(proposals)
        changed = {p: v for p, v in chosen.items() if not _same(p._data, v)}
        return self._finish(summary, self.apply(changed))

    def messages(self, summary: Summary | None = None) -> list[BaseMessage]:
        """The system and user messages of the next step (what the model will read)."""
        if summary is None:
            summary = summarize(self.parameters, max_nodes=self.max_nodes, max_chars=self.max_chars)
        sections = problem_sections(self.parameters, summary, self.objective, self.max_chars)
        return [
            SystemMessage(content=self.system_prompt),
            HumanMessage(content=render_user_prompt(sections, self.memory)),
        ]

    def state_dict(self) -> dict[str, Any]:
        return {
            "type": type(self).__name__,
            "steps_done": self.steps_done,
            "terminated": self.terminated,
            "memory": [item.to_dict() for item in self.memory],
            "log": list(self.log),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state_type(self, state)
        try:
            memory = [MemoryItem(dict(m["variables"]), str(m["feedback"])) for m in state.get("memory", [])]
            steps = int(state.get("steps_done", 0))
            log = [dict(entry) for entry in state.get("log", [])]
        except (KeyError, TypeError, ValueError) as exc:
            raise OptimizerError(f"OptoPrime.load_state_dict: bad state ({exc})") from None
        self.memory = deque(memory, maxlen=self.memory_size or None)
        self.steps_done, self.log = steps, log
        self.terminated = bool(state.get("terminated", False))

    # -- internals ---------------------------------------------------------------------------
    def _finish(self, summary: Summary, updates: dict[Node, Any]) -> dict[Node, Any]:
        if self.memory_size:
            self.memory.append(memory_item(self.parameters, summary, self.max_chars))
        self.steps_done += 1
        return updates

    def _propose(self, messages: list[BaseMessage], candidate: int) -> tuple[Reply, dict[Node, Any]]:
        """One validated suggestion, sending unusable replies back with their error."""
        conversation = list(messages)
        schema = reply_json_schema(self.parameters) if self.constrain_json else None
        error: OptimizerError | None = None
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            entry: dict[str, Any] = {
                "step": self.steps_done + 1, "candidate": candidate, "attempt": attempt + 1,
                "model": self.llm.model_name,
                "messages": [{"role": m.type, "content": message_text(m)} for m in conversation],
                "reply": None, "error": None,
            }
            self.log.append(entry)
            try:
                answer = self.llm.invoke(conversation, json_schema=schema, **self.llm_params)
            except OptographError as exc:  # the LLM layer already retried transient failures
                entry["error"] = str(exc)
                raise
            text = message_text(answer)
            entry["reply"] = text
            try:
                reply = parse_reply(text)
                self.last_reply = reply
                if reply.terminate:
                    return reply, {}
                if not reply.suggestion:
                    raise ReplyFormatError(
                        "the reply suggests no change; put new values in 'suggestion', or "
                        "answer TERMINATE when nothing can improve"
                    )
                return reply, validate_suggestion(self.parameters, reply.suggestion)
            except OptimizerError as exc:
                error = exc
                entry["error"] = str(exc)
                conversation += [
                    AIMessage(content=text),
                    HumanMessage(
                        content=f"That reply could not be used: {exc}\n"
                        "Reply again with one JSON object in the required format."
                    ),
                ]
        raise OptimizerError(
            f"OptoPrime: no usable reply from {self.llm.model_name} after {attempts} "
            f"attempt(s); parameters unchanged; last error: {error}"
        )

    def _best_of(self, proposals: list[dict[Node, Any]]) -> dict[Node, Any]:
        """Score each proposal by re-running the workflow with its values (through the
        executor, each in its own parameter_values block: the parameters do not change) and
        keep the best; feedback that `evaluate` gives the parameters is taken back."""
        evaluate = self.evaluate
        if evaluate is None:
            raise OptimizerError(
                "OptoPrime(candidates > 1) needs evaluate=, a callable that re-runs the "
                "workflow and returns its score (optimize() sets it)"
            )

        def score_of(index: int) -> float:
            with parameter_values(proposals[index]):
                try:
                    score = parse_feedback(evaluate(), "OptoPrime evaluate()").score
                except OptographError as exc:
                    logger.info("OptoPrime candidate failed its evaluation: %s", exc)
                    score = None
            return math.nan if score is None else score

        saved_feedback = {p: p.feedback for p in self.parameters}
        try:  # by index: the proposals' nodes stay the parameters, also on a Ray worker
            scores = (self.executor or Executor(1)).map(score_of, list(range(len(proposals))))
        finally:
            for p, items in saved_feedback.items():
                p.feedback = items
        self.log.append({"step": self.steps_done + 1, "candidate_scores": scores})
        best = best_index(scores, self.minimize)  # type: ignore[arg-type]
        return proposals[best or 0]  # none scored: the first proposal, as before


def _different_from(proposals: list[dict[Node, Any]]) -> HumanMessage:
    shown = "\n".join(
        "; ".join(f"{p.name} = {v!r:.200}" for p, v in proposal.items()) for proposal in proposals
    )
    return HumanMessage(
        content=f"These suggestions were already made:\n{shown}\nPropose a different one."
    )


def _same(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # values whose == is unusual (arrays): treat as changed
        return False
