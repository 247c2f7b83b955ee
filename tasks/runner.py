"""Run a task: translate the task file into one call of the optimization loop
(`agent.loop.optimize`, the only loop) and record what it reports.

The run folder and the loop's checkpoint: the loop checkpoints every node of its LangGraph
graph in `RUN/loop.sqlite` (the one checkpoint; a run stopped at any point, kill -9 included,
resumes from it). `RUN/run.sqlite` is the record users read (`show`, the report): one row per
evaluation, written from the loop's events, each in one transaction, before the loop's own
checkpoint of that node; a row already stored is never written twice, so after a kill the
rows and the checkpoint agree. Row k holds step k's evaluation (values, score, feedback,
graph) and the optimizer step that followed it (updates, next values, a skipped step's
reason); the last row is the evaluation of the last proposal, completed by a later resume
that asks for more steps.

A task's `steps` (and a search's `evaluations`) count these rows: steps - 1 optimizer steps,
each evaluated. Steps are shown numbered from 1 (the bar, `show`, the report)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TextIO

import optograph.graph as og
from optograph.agent.executor import check_max_concurrency, make_executor, require_in_process
from optograph.agent.feedback import describe_score, direction_text
from optograph.agent.loop import optimize

from .errors import RunStoreError
from .llm_setup import TaskLLMs, model_choices
from .preflight import check_resumable, preflight, task_optimizer
from .prepare import PreparedTask, prepare_task, takes_argument
from .progress import ProgressBar
from .run_store import RunStore, StepRecord, find_run
from .task_file import Task, load_task

DEFAULT_STEPS = 10
DEFAULT_EVALUATIONS = 100
CHECKPOINT = "loop.sqlite"
THREAD = "run"


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
    cassette_mode: str | None = None  # None: "auto" (or what the resumed run used)
    max_concurrency: int | None = None  # None: the task's (default 1)
    executor: str | None = None  # None: the task's (default "local")
    allow_changed_task: bool = False  # resume a run although its task file changed



# the options a resumed run keeps unless given again (stored in the run's meta)
_KEPT = ("llm", "workflow_llm", "steps", "cassette", "cassette_mode", "max_concurrency", "executor")


@dataclass
class RunResult:
    folder: Path
    status: str
    steps: int
    best_score: float | None
    best_values: dict[str, Any]
    summary: str = ""


def _proposes(updates: Any, note: Any, values: Any, next_values: Any) -> bool:
    """Whether a step's row carries the optimizer's part: changes, a note, or other values next."""
    return bool(updates) or bool(note) or next_values != values


class TaskRun:
    """One run of a prepared task in a run folder."""

    def __init__(self, prepared: PreparedTask, store: RunStore, options: RunOptions) -> None:
        self.prepared = prepared
        self.task: Task = prepared.task
        self.spec = prepared.task.spec
        self.store = store
        self.options = options
        self.maximize = self.spec.feedback.maximize
        self.target = self.spec.feedback.target
        self.parameters = prepared.make_parameters()
        self.trainable = [p for p in self.parameters.values() if p.trainable]
        self.llms = task_llms(self.task, options)
        self.workflow_takes_llm = takes_argument(prepared.workflow, "llm")
        self._workflow_llm: Any = None
        self.graphs: dict[int, str] = {}
        self.best_score: float | None = None
        self.rows = 0
        self.bar: ProgressBar | None = None
        self._examples_done = 0  # examples of the current step's batch evaluated
        self._examples_lock = threading.Lock()

    # -- the loop's workflow and feedback ------------------------------------------------
    def workflow_llm(self) -> Any:
        if self._workflow_llm is None:
            self._workflow_llm = self.llms.chat_model("workflow")
        return self._workflow_llm

    def run_example(self, example: Any = None) -> og.Node:
        extra = {"llm": self.workflow_llm()} if self.workflow_takes_llm else {}
        output = self.prepared.run_workflow({**self.parameters, **extra}, example)
        self.example_done()
        return output

    def example_done(self) -> None:
        """Progress within a step: one more example of its batch evaluated (from any thread)."""
        examples = self.prepared.examples
        if self.bar is None or not examples or len(examples) < 2:
            return
        size = min(self.spec.data.batch_size or len(examples), len(examples)) if self.spec.data \
            else len(examples)
        with self._examples_lock:
            self._examples_done = self._examples_done % size + 1
            done = self._examples_done
        self.bar.example(done, size)

    def judge(self, output: og.Node, example: Any = None) -> Any:
        return self.prepared.judge(output, example)

    # -- recording the loop's events -----------------------------------------------------
    def on_event(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        bar = self.bar
        assert bar is not None
        if kind in ("start", "resume"):
            where = "resuming at step " + str(event["step"] + 1) if kind == "resume" else "start"
            target = f", target {self.target:g}" if self.target is not None else ""
            bar.message(f"{self.spec.name}: {where}; score: {direction_text(not self.maximize)}"
                        f"{target}")
        elif kind == "evaluated":
            step = event["step"]
            if event.get("outputs"):
                self.graphs[step] = og.to_json(og.to_networkx(event["outputs"]))
            bar.update(step + 1, event["score"], event["best_score"], self.llms.tokens(),
                       self.llms.cost())
        elif kind == "applied" and event.get("note"):
            bar.message(f"step {event['step'] + 1}: {event['note']}")
        elif kind == "not_run":
            bar.message(f"step {event['step'] + 1}: {event['count']} example(s) not run: "
                        f"{event['reason']}")
        elif kind == "step":
            self.write_row(event, event.get("optimizer_state", {}), event.get("best_score"))
        elif kind == "stop":
            self.write_row({**event["entry"], "outputs": event.get("outputs")},
                           event.get("optimizer_state", {}), event.get("best_score"))

    def write_row(self, entry: dict[str, Any], optimizer_state: dict[str, Any],
                  best: float | None) -> None:
        """Store a completed step; `best` is the loop's best score so far (its one rule)."""
        step = int(entry["step"])
        score = entry.get("score")
        if step not in self.graphs and entry.get("outputs"):
            self.graphs[step] = og.to_json(og.to_networkx(entry["outputs"]))
        record = StepRecord(
            step=step, time=time.time(), values=entry.get("values", {}), score=score,
            best_score=best, feedback=entry.get("feedback", ""), updates=entry.get("updates", {}),
            next_values=entry.get("next_values", {}),
            optimizer_state={"optimizer": optimizer_state, "usage": self.llms.usage_dict()},
            tokens=self.llms.tokens(), cost=self.llms.cost(), graph_dot=self.graphs.pop(step, None),
            note=entry.get("note"),
        )
        calls = self.llms.new_calls(step)
        if self.store.has_step(step):
            # The row of a run's last step gets its proposal when a finished run is resumed
            # with more steps. A row that has one already was written just before a kill: the
            # loop checkpoints after the row, so the resumed loop records that step again; the
            # row is kept as it was (the same proposal, this process's own usage counts).
            stored = self.store.last_step()
            completed = stored is not None and stored.step == step and _proposes(
                stored.updates, stored.note, stored.values, stored.next_values)
            if not completed and _proposes(entry.get("updates"), entry.get("note"),
                                           entry.get("values"), entry.get("next_values")):
                self.store.complete_step(record, calls)
        else:
            self.store.add_step(record, calls)
        if "train_score" in entry:
            self.store.set_train_score(step, entry["train_score"])
        self.rows = max(self.rows, step + 1)

    # -- whole run -----------------------------------------------------------------------
    def total(self) -> int:
        budget = self.spec.budget
        if self.spec.optimizer.name == "evolution":
            return self.options.steps or budget.evaluations or budget.steps or DEFAULT_EVALUATIONS
        return self.options.steps or budget.steps or DEFAULT_STEPS

    def make_optimizer(self) -> Any:
        return task_optimizer(self.task, self.trainable, self.llms, self.maximize)

    def run(self) -> RunResult:
        search = self.spec.optimizer.name == "evolution"
        total = self.total()
        concurrency = self.options.max_concurrency or self.spec.max_concurrency
        executor = make_executor(self.options.executor or self.spec.executor, concurrency)
        self.bar = bar = ProgressBar(self.spec.name, total, self.options.progress,
                                     unit="evaluation" if search else "step",
                                     minimize=not self.maximize, target=self.target)
        if self.options.quiet:
            bar.update = lambda *a, **k: None  # type: ignore[method-assign]
        self.llms.on_retry = bar.notify
        if not self.options.quiet:  # progress between steps: each model call, each example
            self.llms.on_call = bar.llm_call
        self.store.set_meta(status="running", total=str(total))
        if not self.options.quiet:
            bar.message(f"run folder {self.store.folder}")
        optimizer = self.make_optimizer()
        examples = self.prepared.examples
        data = self.spec.data
        try:
            result = optimize(
                self.run_example if examples is not None else lambda: self.run_example(),
                self.judge if examples is not None else (lambda output: self.judge(output)),
                optimizer, steps=total - 1, target=self.target,
                max_tokens=self.spec.budget.tokens, max_cost=self.spec.budget.cost,
                minimize=not self.maximize, usage=self.llms.usage(),
                checkpoint=self.store.folder / CHECKPOINT, thread_id=THREAD,
                on_event=self.on_event, examples=examples,
                batch_size=data.batch_size if data is not None else None, executor=executor,
                validation=self.prepared.validation,
            )
        except KeyboardInterrupt:
            self.store.set_meta(status="interrupted")
            bar.message(f"stopped after {len(self.store.steps())} stored steps; resume with: "
                        f"optograph run {self.task.path} --resume {self.store.folder}")
            raise
        except BaseException:
            self.store.set_meta(status="failed")
            bar.close()
            raise
        finally:
            executor.close()
        bar.close()
        reason = result.stop_reason or ""
        finished = reason.endswith(" steps done") or reason == "the search is complete"
        status = "finished" if finished else f"stopped: {reason}"
        best_values = result.best_values or result.final_values
        self.store.set_meta(status=status, best_score=json.dumps(result.best_score),
                            best_values=json.dumps(best_values, default=repr))
        (self.store.folder / "best_parameters.json").write_text(
            json.dumps(best_values, indent=2, default=repr))
        on = " on the validation split" if self.prepared.validation is not None else ""
        summary = (f"{len(result.history)} steps, best score{on} "
                   f"{describe_score(result.best_score, not self.maximize, self.target)}")
        return RunResult(self.store.folder, status, len(result.history), result.best_score,
                         best_values, summary)


def task_llms(task: Task, options: RunOptions) -> TaskLLMs:
    """The run's LLMs (llm_setup.model_choices: `--llm` / `--workflow-llm` over the task's),
    with the cassette of the options or of the task."""
    optimizer = task.spec.optimizer
    cassette = None
    if options.cassette is not None:
        cassette = (options.cassette, options.cassette_mode or "auto")
    elif optimizer.cassette is not None:
        cassette = (task.folder / optimizer.cassette.path, optimizer.cassette.mode)
    chosen, workflow = model_choices(task, options.llm, options.workflow_llm)
    return TaskLLMs(chosen.spec, chosen.base, chosen.where, cassette, workflow)


def stored_options(store: RunStore) -> dict[str, Any]:
    try:
        return dict(json.loads(store.meta().get("options", "{}")))
    except (ValueError, TypeError):
        return {}


def with_stored_options(options: RunOptions, stored: dict[str, Any]) -> RunOptions:
    """The options of a resumed run: those it was started with, unless given again."""
    kept = {name: getattr(options, name) for name in (f.name for f in fields(options))}
    for name in _KEPT:
        if kept[name] is None and stored.get(name) is not None:
            kept[name] = Path(stored[name]) if name == "cassette" else stored[name]
    return RunOptions(**kept)


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
        try:
            check_resumable(store, task, options.allow_changed_task)
        except BaseException:  # the run's lock is released with the store
            store.close()
            raise
        return store
    text = task.path.read_text(encoding="utf-8")
    return RunStore.create(store_folder, task.spec.name, task.path, text)


def _check_executor(name: str) -> None:
    """The task's workflow is traced in this process (see `require_in_process`)."""
    require_in_process(make_executor(name, 1), "a task's traced workflow")


def _remember_options(store: RunStore, options: RunOptions) -> None:
    chosen = {name: getattr(options, name) for name in _KEPT}
    chosen = {k: (str(Path(v).resolve()) if k == "cassette" and v is not None else v)
              for k, v in chosen.items() if v is not None}
    store.set_meta(options=json.dumps(chosen))


def run_task(path: str | Path, options: RunOptions | None = None) -> RunResult:
    """Validate, prepare and run a task file (or resume one of its runs, with the options it
    was started with unless they are given again)."""
    options = options or RunOptions()
    task = load_task(path)
    prepared = prepare_task(task)
    if options.max_concurrency is not None:
        check_max_concurrency(options.max_concurrency)
    _check_executor(options.executor or task.spec.executor)  # before a run folder is made
    if options.resume is None:
        preflight(prepared, task_llms(task, options))  # before a run folder is made
    store = open_run_for(task, options)
    try:
        if options.resume is not None:  # checked with the options the run was started with
            options = with_stored_options(options, stored_options(store))
            preflight(prepared, task_llms(task, options))
        _remember_options(store, options)
        return TaskRun(prepared, store, options).run()
    finally:
        store.close()

