"""The LLMs of a task run: one for the optimizer and one the workflow may use (if it takes an
`llm` argument), sharing one usage account and, when the task names one, one cassette.

A spec is what `get_chat_model` takes ("local", "provider:model", "local:/path.gguf"), or
`python:module:attribute` naming a chat model object (or a function returning one), which is
how scripted models drive runs offline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables.config import var_child_runnable_config
from pydantic import ConfigDict

from optograph.graph.errors import OptographError

from .errors import TaskError
from .references import resolve_reference
from .run_store import LLMCallRecord

if TYPE_CHECKING:
    from .task_file import Task

PYTHON_PREFIX = "python:"


def chat_model_from_spec(spec: str | None, base: Path, where: str) -> Any:
    """What `LLM` takes for `spec`: a chat model object for `python:` specs, else the spec
    itself (the LLM layer builds the model on its first call, so a replayed cassette never
    loads it)."""
    if spec is not None and spec.startswith(PYTHON_PREFIX):
        obj = resolve_reference(spec[len(PYTHON_PREFIX):], base, where)
        from langchain_core.language_models import BaseChatModel

        if not isinstance(obj, BaseChatModel) and callable(obj):
            obj = obj()
        if not isinstance(obj, BaseChatModel):
            raise TaskError(f"{where}: {spec!r} is {type(obj).__name__}, not a chat model")
        return obj
    return spec


class TaskChatModel(BaseChatModel):
    """What a workflow gets as its `llm`: a LangChain chat model over the run's LLM (usage
    accounting, cache, cassette). Being a chat model of its own, its calls reach LangChain
    callbacks (LangGraph tracing records them) the same way whether the reply comes from the
    model or from a cassette, so a replayed run traces the same graph as the recorded one."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    llm: Any
    model_name: str = ""

    @property
    def _llm_type(self) -> str:
        return "optograph-task-llm"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        if stop:
            kwargs["stop"] = stop
        # the inner model must not report to the callbacks of the run around this call
        # (this object's own call already does): clear the inherited config for it
        token = var_child_runnable_config.set(None)
        try:
            reply = self.llm.invoke(messages, **kwargs)
        finally:
            var_child_runnable_config.reset(token)
        return ChatResult(generations=[ChatGeneration(message=reply)])

    def __repr__(self) -> str:
        return f"TaskChatModel({self.model_name!r})"


@dataclass(frozen=True)
class ModelChoice:
    """A model spec, the folder a `python:` spec is relative to, and where it was given."""

    spec: str | None
    base: Path
    where: str


def model_choices(task: Task, llm: str | None = None,
                  workflow_llm: str | None = None) -> tuple[ModelChoice, ModelChoice]:
    """(the optimizer's model, the workflow's model) of a run. The optimizer's: `--llm`, else
    the task's `optimizer.llm`. The workflow's (the `llm` a workflow takes): `--workflow-llm`,
    else the task's `optimizer.workflow_llm`, else the optimizer's model."""
    spec = task.spec.optimizer
    if llm is not None:
        optimizer = ModelChoice(llm, Path.cwd(), "--llm")
    else:
        optimizer = ModelChoice(spec.llm, task.folder, task.where("optimizer", "llm"))
    if workflow_llm is not None:
        workflow = ModelChoice(workflow_llm, Path.cwd(), "--workflow-llm")
    elif spec.workflow_llm is not None:
        workflow = ModelChoice(spec.workflow_llm, task.folder,
                               task.where("optimizer", "workflow_llm"))
    else:
        workflow = optimizer
    return optimizer, workflow


class TaskLLMs:
    """Builds the optimizer's and the workflow's LLM on first use (a search optimizer needs
    none, and the local model takes seconds to load). `spec` is the optimizer's model;
    `workflow` the workflow's (default: the same)."""

    def __init__(self, spec: str | None, base: Path, where: str,
                 cassette: tuple[Path, str] | None = None,
                 workflow: ModelChoice | None = None) -> None:
        self.spec = spec
        self.base = base
        self.where = where
        self.choices = {"optimizer": ModelChoice(spec, base, where)}
        if workflow is not None:
            self.choices["workflow"] = workflow
        self.cassette_spec = cassette
        # hears of every model call of the run ("start"/"end", CallRecord): the LLM layer's
        # on_call hook, forwarded so it can be set after the LLMs are built
        self.on_call: Any = None
        self._usage: Any = None
        self._cassette: Any = None
        self._llms: dict[str, Any] = {}
        self._seen: dict[str, int] = {}
        self.on_retry: Any = None  # told about each retried call (the progress line shows it)

    def _shared(self) -> tuple[Any, Any]:
        from optograph.agent.llm import Cassette, Usage

        if self._usage is None:
            self._usage = Usage()
            if self.cassette_spec is not None:
                path, mode = self.cassette_spec
                try:
                    self._cassette = Cassette(path, mode=mode)  # type: ignore[arg-type]
                except OptographError as exc:
                    raise TaskError(f"{self.where}: {exc}") from None
        return self._usage, self._cassette

    def choice(self, role: str) -> ModelChoice:
        """The model of `role` ("optimizer", "workflow", ...): its own, else the optimizer's."""
        return self.choices.get(role, self.choices["optimizer"])

    def check(self, roles: tuple[str, ...] = ("optimizer", "workflow")) -> None:
        """Fail early (before a run folder is made, before step 1) on an LLM that cannot
        work: a spec that does not parse, a model that cannot be built (no API key, no model
        file, a file that is not a model), a cassette that cannot be used. A cassette that
        only replays needs no model."""
        _, cassette = self._shared()
        for choice in {self.choice(role) for role in roles}:
            model = chat_model_from_spec(choice.spec, choice.base, choice.where)
            if isinstance(model, str) or model is None:
                from optograph.agent.llm import canonical_spec, get_chat_model

                try:
                    canonical_spec(model)
                    if cassette is None or cassette.mode != "replay":
                        get_chat_model(model)  # builds the client; sends nothing
                except (OptographError, ValueError) as exc:
                    raise TaskError(f"{choice.where}: llm {choice.spec!r}: {exc}") from None

    def llm(self, role: str) -> Any:
        if role not in self._llms:
            from optograph.agent.llm import LLM

            usage, cassette = self._shared()
            choice = self.choice(role)
            model = chat_model_from_spec(choice.spec, choice.base, choice.where)
            try:
                self._llms[role] = LLM(model, role=role, usage=usage, cassette=cassette,
                                       on_retry=self._retried, on_call=self._call_event)
            except (OptographError, ValueError) as exc:
                raise TaskError(f"{choice.where}: llm {choice.spec!r}: {exc}") from None
            self._seen[role] = 0
        return self._llms[role]

    def _retried(self, notice: str) -> None:
        if self.on_retry is not None:
            self.on_retry(notice)

    def _call_event(self, event: str, record: Any) -> None:
        if self.on_call is not None:
            self.on_call(event, record)

    def chat_model(self, role: str) -> TaskChatModel:
        """The role's LLM as a LangChain chat model (what workflows receive)."""
        llm = self.llm(role)
        return TaskChatModel(llm=llm, model_name=llm.model_name)

    def usage(self) -> Any:
        """The one usage account of the run's LLMs (the loop's budgets read it)."""
        return self._shared()[0]

    def load_usage(self, state: dict[str, Any]) -> None:
        """Carry the token and cost totals of a resumed run on."""
        if state:
            usage, _ = self._shared()
            usage.load_dict(state)

    def usage_dict(self) -> dict[str, Any]:
        return self._usage.to_dict() if self._usage is not None else {}

    def tokens(self) -> int:
        if self._usage is None:
            return 0
        total = self._usage.total()
        return int(total.input_tokens + total.output_tokens)

    def cost(self) -> float:
        if self._usage is None:
            return 0.0
        return float(self._usage.total().cost or 0.0)

    def new_calls(self, step: int) -> list[LLMCallRecord]:
        """The calls made since the last time this was asked (for the run store)."""
        calls: list[LLMCallRecord] = []
        for role, llm in self._llms.items():
            log = list(getattr(llm, "log", []))
            for record in log[self._seen[role]:]:
                calls.append(LLMCallRecord(
                    step=step, role=role, model=str(record.model),
                    prompt=record.prompt,
                    reply=record.reply_text if record.error is None else f"error: {record.error}",
                    input_tokens=int(record.input_tokens or 0),
                    output_tokens=int(record.output_tokens or 0),
                ))
            self._seen[role] = len(log)
        return calls
