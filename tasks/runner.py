"""Run a task: evaluate the workflow on its examples, turn the outputs into feedback, let the
optimizer step, and store each completed step in the run folder before starting the next.

A run stopped at any point (Ctrl-C, kill -9) keeps its completed steps; `resume` continues
after the last one with the stored parameter values, optimizer state and token totals."""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import optograph.graph as og
from optograph.agent.feedback import is_better

from .errors import RunStoreError, TaskError
from .feedback_functions import Judged
from .llm_setup import TaskLLMs, build_optimizer, model_choices
from .prepare import PreparedTask, prepare_task
from .progress import ProgressBar
from .run_store import RunStore, StepRecord, find_run
from .task_file import Task, load_task

DEFAULT_STEPS = 10
DEFAULT_EVALUATIONS = 100


@dataclass
class RunOptions:
    resume: str | None = None
    llm: str | None = None  # the optimizer's model (and the workflow's, unless given below)
    workflow_llm: str | None = None  # the model the workflow gets as `llm`
    steps: int | None = None
    store: Path | None = None
    progress: TextIO | None = None
    quiet: bool = False
    cassette: Path | None = None  # record/replay the LLM calls here (overrides the task's)
    cassette_mode: str = "auto"


@dataclass
class RunResult:
    folder: Path
    status: str
    steps: int
    best_score: float | None
    best_values: dict[str, Any]


@dataclass
class Evaluation:
    outputs: list[og.Node]
    judged: list[Judged]
    score: float | None
    feedback: str
    graph_json: str


class TaskRun:
    """One run of a prepared task in a run folder."""

    def __init__(self, prepared: PreparedTask, store: RunStore, options: RunOptions) -> None:
        self.prepared = prepared
        self.task: Task = prepared.task
        self.spec = prepared.task.spec
        self.store = store
        self.options = options
        self.maximize = self.spec.feedback.maximize
        self.parameters = prepared.make_parameters()
        self.trainable = [p for p in self.parameters.values() if p.trainable]
        self.llms = task_llms(self.task, options)
        self.best_score: float | None = None
        self.best_values: dict[str, Any] = self.values()
        self.step_index = 0
        self.workflow_takes_llm = _takes(prepared.workflow, "llm")
        self._workflow_llm: Any = None
        self.on_example: Callable[[int, int], None] | None = None  # progress per example

    # -- helpers -------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        return {name: p._data for name, p in self.parameters.items()}

    def set_values(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            if name in self.parameters and self.parameters[name].trainable:
                self.parameters[name].set(self.prepared.restore(name, value))

    def better(self, score: float | None) -> bool:
        return score is not None and is_better(score, self.best_score, not self.maximize)

    def reached_target(self) -> bool:
        target = self.spec.feedback.target
        if target is None or self.best_score is None:
            return False
        return self.best_score >= target if self.maximize else self.best_score <= target

    def batch(self, index: int) -> list[Any]:
        examples = self.prepared.examples
        if examples is None:
            return [None]
        size = self.spec.data.batch_size if self.spec.data else None
        if not size or size >= len(examples):
            return list(examples)
        start = (index * size) % len(examples)
        return [examples[(start + i) % len(examples)] for i in range(size)]

    def workflow_llm(self) -> Any:
        if self._workflow_llm is None:
            self._workflow_llm = self.llms.chat_model("workflow")
        return self._workflow_llm

    def evaluate(self, index: int) -> Evaluation:
        """Run the workflow on this step's examples (a fresh naming scope per step)."""
        outputs: list[og.Node] = []
        judged: list[Judged] = []
        with og.Run(f"step{index}"):
            params = dict(self.parameters)
            batch = self.batch(index)
            for example in batch:
                extra = {"llm": self.workflow_llm()} if self.workflow_takes_llm else {}
                output = self.prepared.run_workflow({**params, **extra}, example)
                outputs.append(output)
                judged.append(self.prepared.judge(output, example))
                if self.on_example is not None and len(batch) > 1:
                    self.on_example(len(outputs), len(batch))
        scores = [j.score for j in judged if j.score is not None]
        score = sum(scores) / len(scores) if scores else None
        texts = [_feedback_text(j.feedback) for j in judged]
        feedback = texts[0] if len(texts) == 1 else "\n".join(
            f"[{i}] {t}" for i, t in enumerate(texts))
        graph_json = og.to_json(og.to_networkx(outputs))
        return Evaluation(outputs, judged, score, feedback, graph_json)

    def over_budget(self) -> str | None:
        budget = self.spec.budget
        if budget.tokens is not None and self.llms.tokens() >= budget.tokens:
            return f"token budget of {budget.tokens} reached"
        if budget.cost is not None and self.llms.cost() >= budget.cost:
            return f"cost budget of ${budget.cost} reached"
        return None

    # -- LLM optimizers ------------------------------------------------------------------
    def run_llm_optimizer(self, bar: ProgressBar, total: int) -> str:
        options = dict(self.spec.optimizer.options)
        options.setdefault("minimize", not self.maximize)
        optimizer = build_optimizer(
            self.spec.optimizer.name, self.trainable, self.task.where("optimizer", "options"),
            llm=self.llms.llm("optimizer"), **options,
        )
        last = self.store.last_step()
        if last is not None:
            self.set_values(last.next_values)
            optimizer.load_state_dict(last.optimizer_state.get("optimizer", {}))
            self.llms.load_usage(last.optimizer_state.get("usage", {}))
            self.best_score = last.best_score
            self.best_values = self._best_from_store()
            self.step_index = last.step + 1
            if last.note and last.note.startswith("stopped:"):
                return last.note
        while self.step_index < total:
            reason = self.over_budget()
            if reason:
                return f"stopped: {reason}"
            index = self.step_index
            values = self.values()
            evaluation = self.evaluate(index)
            if self.better(evaluation.score):
                self.best_score, self.best_values = evaluation.score, values
            note = None
            updates: dict[str, Any] = {}
            if self.reached_target():
                note = f"stopped: target {self.spec.feedback.target:g} reached"
            else:
                optimizer.zero_feedback()
                for output, judged in zip(evaluation.outputs, evaluation.judged, strict=True):
                    output.backward(judged.feedback)
                try:
                    applied = optimizer.step()
                    updates = {node.name: value for node, value in applied.items()}
                except og.RunAbortedError:  # a replay miss: the run cannot go on honestly
                    raise
                except og.OptographError as exc:  # an unusable reply: parameters unchanged
                    note = f"no update: {exc}"
            self.record(index, values, evaluation, updates, {
                "optimizer": optimizer.state_dict(), "usage": self.llms.usage_dict()}, note)
            bar.update(index + 1, evaluation.score, self.best_score, self.llms.tokens(),
                       self.llms.cost())
            if note and note.startswith("no update"):
                bar.message(f"step {index}: {note}")
            self.step_index = index + 1
            if note and note.startswith("stopped:"):
                return note
        return "finished"

    def record(self, index: int, values: dict[str, Any], evaluation: Evaluation,
               updates: dict[str, Any], state: dict[str, Any], note: str | None) -> None:
        self.store.add_step(
            StepRecord(
                step=index, time=time.time(), values=values, score=evaluation.score,
                best_score=self.best_score, feedback=evaluation.feedback, updates=updates,
                next_values=self.values(), optimizer_state=state, tokens=self.llms.tokens(),
                cost=self.llms.cost(), graph_dot=evaluation.graph_json, note=note,
            ),
            self.llms.new_calls(index),
        )

    def _best_from_store(self) -> dict[str, Any]:
        best: dict[str, Any] = self.values()
        best_score: float | None = None
        for record in self.store.steps():
            if record.score is not None and is_better(record.score, best_score, not self.maximize):
                best_score, best = record.score, record.values
        return best

    # -- search optimizer ----------------------------------------------------------------
    def search_key(self, candidate: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(
            p.search_space.key(self.prepared.restore(p.name, candidate[p.name]))
            if p.search_space is not None else repr(candidate[p.name])
            for p in self.trainable
        )

    def run_search(self, bar: ProgressBar, total: int) -> str:
        stored = self.store.steps()
        cache = {self.search_key(r.values): r.score for r in stored if r.score is not None}
        seen = set(cache)
        for record in stored:
            if self.better(record.score):
                self.best_score, self.best_values = record.score, record.values
        self.step_index = len(stored)
        options = dict(self.spec.optimizer.options)
        options.setdefault("minimize", not self.maximize)
        optimizer = build_optimizer("evolution", self.trainable,
                                    self.task.where("optimizer", "options"),
                                    evaluation_cache=cache, **options)

        def evaluate(candidate: dict[str, Any]) -> float:
            self.set_values(candidate)
            values = self.values()
            index = self.step_index
            evaluation = self.evaluate(index)
            if evaluation.score is None:
                raise TaskError(
                    f"{self.task.where('feedback')}: the evolution optimizer needs a numeric "
                    f"score; the feedback gave only text: {evaluation.feedback[:100]!r}"
                )
            if self.better(evaluation.score):
                self.best_score, self.best_values = evaluation.score, values
            self.record(index, values, evaluation, {}, {"usage": self.llms.usage_dict()}, None)
            seen.add(self.search_key(candidate))
            self.step_index = index + 1
            bar.update(self.step_index, evaluation.score, self.best_score, self.llms.tokens())
            return evaluation.score

        optimizer.run(evaluate, total)
        self.set_values(self.best_values)
        return "finished"

    # -- whole run -----------------------------------------------------------------------
    def run(self) -> RunResult:
        search = self.spec.optimizer.name == "evolution"
        budget = self.spec.budget
        if search:
            total = self.options.steps or budget.evaluations or budget.steps or DEFAULT_EVALUATIONS
        else:
            total = self.options.steps or budget.steps or DEFAULT_STEPS
        bar = ProgressBar(self.spec.name, total, self.options.progress,
                          unit="evaluation" if search else "step")
        if self.options.quiet:
            bar.update = lambda *a, **k: None  # type: ignore[method-assign]
        else:  # progress between steps: each model call, each example of a batch
            self.llms.on_call = bar.llm_call
            self.on_example = bar.example
        self.store.set_meta(status="running", total=str(total))
        if not self.options.quiet:
            bar.message(f"run folder {self.store.folder}")
        try:
            status = self.run_search(bar, total) if search else self.run_llm_optimizer(bar, total)
        except KeyboardInterrupt:
            self.store.set_meta(status="interrupted")
            bar.message(f"stopped after {self.step_index} stored steps; resume with: optograph "
                        f"run {self.task.path} --resume {self.store.folder}")
            raise
        except BaseException:
            self.store.set_meta(status="failed")
            bar.close()
            raise
        bar.close()
        self.store.set_meta(status=status, best_score=json.dumps(self.best_score),
                            best_values=json.dumps(self.best_values, default=repr))
        (self.store.folder / "best_parameters.json").write_text(
            json.dumps(self.best_values, indent=2, default=repr))
        return RunResult(self.store.folder, status, self.step_index, self.best_score,
                         self.best_values)


def _takes(fn: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(getattr(fn, "fn", fn)).parameters
    except (TypeError, ValueError):
        return False


def _feedback_text(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def task_llms(task: Task, options: RunOptions) -> TaskLLMs:
    """The run's LLMs (llm_setup.model_choices: `--llm` / `--workflow-llm` over the task's),
    with the cassette of the options or of the task."""
    optimizer = task.spec.optimizer
    cassette = None
    if options.cassette is not None:
        cassette = (options.cassette, options.cassette_mode)
    elif optimizer.cassette is not None:
        cassette = (task.folder / optimizer.cassette.path, optimizer.cassette.mode)
    chosen, workflow = model_choices(task, options.llm, options.workflow_llm)
    return TaskLLMs(chosen.spec, chosen.base, chosen.where, cassette, workflow)


def open_run_for(task: Task, options: RunOptions) -> RunStore:
    """The run folder to use: the one to resume (checked to belong to this task) or a new one."""
    store_folder = options.store or Path(task.spec.store)
    if options.resume is not None:
        store = RunStore.open(find_run(options.resume, store_folder))
        name = store.meta().get("task_name")
        if name != task.spec.name:
            store.close()
            raise RunStoreError(
                f"{options.resume}: this run belongs to task {name!r}, not {task.spec.name!r}")
        return store
    text = task.path.read_text(encoding="utf-8")
    return RunStore.create(store_folder, task.spec.name, task.path, text)


def run_task(path: str | Path, options: RunOptions | None = None) -> RunResult:
    """Validate, prepare and run a task file (or resume one of its runs)."""
    options = options or RunOptions()
    task = load_task(path)
    prepared = prepare_task(task)
    if task.spec.optimizer.name != "evolution" or _takes(prepared.workflow, "llm"):
        task_llms(task, options).check()
    store = open_run_for(task, options)
    try:
        return TaskRun(prepared, store, options).run()
    finally:
        store.close()
