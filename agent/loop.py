"""The optimization loop as a LangGraph graph, checkpointed in SQLite so that a loop stopped
at any point (kill -9 included) resumes from its last completed node with the same optimizer
state, parameter values, history and usage.

    run_workflow -> collect_feedback -> (stop? -> finish) -> propose -> record -> run_workflow

`propose` is the optimizer's step: it proposes, validates and applies all updates or none
(validation inside the step lets an LLM optimizer show the model its error and retry).

Feedback functions take the workflow's output node and return (see agent/feedback.py):
text, a number, (score, text), or a dict with "score". Scores are compared with `minimize`
(see `optimize`). A workflow that raises og.ExecutionError is not scored: the error message is
the feedback, given to the exception node, so the optimizer sees the failing line.

With `examples`, each step runs `workflow(example)` on a minibatch (agent/batching.py) through
the executor (`max_concurrency` at once, in this process: the graphs stay here), gives each
output `feedback(output, example)`, and scores the step with the mean (one output per
example, each with its own feedback, so the optimizer sees every example's graph). The
best-of-n candidates of a step (OptoPrime's and OPRO's `candidates`) go through the same
executor, each re-running the step in a graph of its own (`LoopRuntime.evaluate_again`).

Only JSON data is checkpointed; the live graph of a step is rebuilt after a resume by running
the step's workflow (and its feedback function) again."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver

from optograph.graph.node import Node

from .batching import Minibatches
from .errors import OptimizerError
from .executor import Executor, make_executor, require_in_process
from .feedback import check_direction
from .loop_runtime import EventHandler, LoopRuntime, build_loop_graph
from .loop_state import LoopState, OptimizationResult, StopRules, jsonable_values, restore_values
from .optimizer import Optimizer


def optimize(
    workflow: Callable[[], Node],
    feedback: Callable[[Node], Any],
    optimizer: Optimizer,
    *,
    steps: int = 10,
    target: float | None = None,
    patience: int | None = None,
    max_tokens: int | None = None,
    max_cost: float | None = None,
    minimize: bool | None = None,
    maximize: bool | None = None,
    restore_best: bool = True,
    usage: Any = None,
    checkpoint: str | Path | None = None,
    thread_id: str = "main",
    on_event: EventHandler | None = None,
    examples: Sequence[Any] | None = None,
    batch_size: int | None = None,
    max_concurrency: int = 1,
    executor: str | Executor | None = None,
    validation: Sequence[Any] | None = None,
) -> OptimizationResult:
    """Optimize the optimizer's parameters: run `workflow()` (it returns the output node),
    give it `feedback(output)`, step the optimizer; repeat.

    Stops after `steps` optimizer steps, when the score reaches `target`, after `patience`
    evaluations without improvement, when the LLM usage passes `max_tokens` or `max_cost`
    (USD), or when the optimizer says it is done (OptoPrime's TERMINATE, the end of an
    evolutionary search). `usage` defaults to the optimizer's LLM usage; a workflow that
    calls a model counts toward the same budget when its LLM shares that Usage
    (`LLM(spec, role="workflow", usage=optimizer.llm.usage)`). With `checkpoint`
    (a SQLite file), every node's result is stored; calling optimize() again with the same
    file and `thread_id` resumes where the last run stopped (a run that ended at its step
    limit goes on when more `steps` are asked; one that ended otherwise is only reported). `restore_best` leaves the
    parameters at the best-scoring values seen. `on_event` receives progress dicts
    ({"event": "start" | "resume" | "evaluated" | "proposing" | "applied" | "step" | "error" |
    "stop", ...}).

    With `examples`, `workflow(example)` and `feedback(output, example)` (or
    `feedback(output)`) run on `batch_size` examples per step (all by default, cycling), at
    most `max_concurrency` at once on `executor` (in-process; "ray" is refused with a
    one-line error: a traced workflow's graph must stay here); the step's score is the mean.
    Best-of-n candidates are evaluated max_concurrency at once too. With `validation` (held-out examples, run like `examples`
    after each step's evaluation, their feedback given to no parameter), the score that
    chooses the best values, meets the target and counts for patience is the validation
    split's mean; the history keeps both (`score`, `train_score`). The budgets stop admitting examples once reached: at most
    `max_concurrency - 1` examples already running, plus one optimizer step, overshoot them."""
    if steps < 0:
        raise OptimizerError(f"optimize(steps={steps}): must be >= 0")
    if usage is None:
        usage = getattr(getattr(optimizer, "llm", None), "usage", None)
    direction = _declared_direction(minimize, maximize, feedback, optimizer)
    runner = require_in_process(make_executor(executor, max_concurrency), "a traced workflow")
    batches = None if examples is None else Minibatches(examples, batch_size)
    if batches is not None and not batches.items:
        raise OptimizerError("optimize: examples is empty; give at least one example")
    if validation is not None and (batches is None or not list(validation)):
        raise OptimizerError("optimize: validation needs examples, and at least one of its own")
    rules = StopRules(steps, target, patience, max_tokens, max_cost,
                      True if direction is None else direction)
    runtime = LoopRuntime(workflow, feedback, optimizer, rules, usage, on_event, batches, runner)
    runtime.direction_known = direction is not None
    runtime.validation = list(validation) if validation is not None else None
    if on_event is None:  # nobody shows progress: say at least which way the score goes
        runtime.say_direction()
    config = RunnableConfig(configurable={"thread_id": thread_id}, recursion_limit=5 * steps + 50)
    with _lend(optimizer, evaluate=runtime.evaluate_again, executor=runner), \
            _checkpointer(checkpoint) as saver:
        app = build_loop_graph(runtime).compile(checkpointer=saver)
        snapshot = app.get_state(config)
        # `next` leaves out the tasks whose writes were stored before a kill stopped the next
        # checkpoint (their writes are applied on resume): those are in `tasks` only
        if snapshot.values and (snapshot.next or snapshot.tasks):
            _check_same_parameters(snapshot.values, optimizer, checkpoint, thread_id)
            # where it goes on: the next nodes, else the tasks whose writes it applies first
            at = list(snapshot.next) or [task.name for task in snapshot.tasks]
            runtime.emit("resume", step=snapshot.values.get("step", 0), at=at)
            final = app.invoke(None, config, durability="sync")
        elif snapshot.values and _more_steps_asked(snapshot.values, steps):
            # it stopped at its step limit and more steps are asked now: go on from there
            _check_same_parameters(snapshot.values, optimizer, checkpoint, thread_id)
            runtime.emit("resume", step=snapshot.values.get("step", 0), at=["run_workflow"])
            previous = snapshot.values
            redo = {  # its last evaluation is redone: take back what it counted
                "stop_reason": None, "history": previous.get("history", [])[:-1],
                "no_improvement": previous.get("no_improvement", 0) - 1,
                "evaluated_steps": previous.get("evaluated_steps", 1) - 1,
            }
            final = app.invoke(redo, config, durability="sync")
        elif snapshot.values:  # finished before: report it without running anything
            _check_same_parameters(snapshot.values, optimizer, checkpoint, thread_id)
            runtime.sync(snapshot.values)  # type: ignore[arg-type]
            final = snapshot.values
        else:
            initial = _initial_state(optimizer, usage)
            runtime.synced = True
            runtime.emit("start", steps=steps, parameters=[p.name for p in optimizer.parameters],
                         minimize=direction, target=target)
            final = app.invoke(initial, config, durability="sync")
    result = OptimizationResult.from_state(final, thread_id, checkpoint)
    if restore_best and result.best_values:
        restore_values(optimizer.parameters, result.best_values)
    return result



@contextmanager
def _lend(optimizer: Optimizer, **hooks: Any) -> Iterator[None]:
    """For this run only, give a best-of-n optimizer the hooks it was not given: `evaluate`
    (re-run this loop's step) and `executor` (this loop's): a later run lends its own."""
    lent = [name for name in hooks
            if getattr(optimizer, "candidates", 1) > 1 and getattr(optimizer, name, 0) is None]
    for name in lent:
        setattr(optimizer, name, hooks[name])
    try:
        yield
    finally:
        for name in lent:
            setattr(optimizer, name, None)


def _initial_state(optimizer: Optimizer, usage: Any) -> LoopState:
    values = jsonable_values(optimizer.parameters)
    return {
        "step": 0, "values": values, "evaluated_values": values,
        "optimizer_state": optimizer.state_dict(), "history": [], "no_improvement": 0,
        "evaluated_steps": 0, "stop_reason": None, "score": None, "best_score": None,
        "best_values": {}, "best_step": None, "feedback": "", "updates": {},
        "usage": usage.to_dict() if usage is not None else {},
    }


def _declared_direction(
    minimize: bool | None, maximize: bool | None, feedback: Any, optimizer: Optimizer
) -> bool | None:
    """Which way the score goes (True: lower is better), from minimize=/maximize=, else the
    feedback's declared kind (its `minimize`/`maximize` attribute), else the optimizer's
    declared `minimize`; None when nothing says (then a numeric score is refused). The
    optimizer is told the direction when it did not declare one."""
    where = "optimize"
    if minimize is None and maximize is None:
        minimize = getattr(feedback, "minimize", None)
        maximize = getattr(feedback, "maximize", None)
        where = "optimize: the feedback function's declared direction"
    declared = getattr(optimizer, "direction_declared", hasattr(optimizer, "minimize"))
    own = bool(getattr(optimizer, "minimize", True)) if declared else None
    if minimize is None and maximize is None:
        return own
    direction = check_direction(minimize, maximize, where)
    if own is not None and own != direction:
        raise OptimizerError(
            f"{where}: minimize={direction} but the optimizer was built with "
            f"minimize={own}; say it once"
        )
    if hasattr(optimizer, "minimize"):
        optimizer.minimize = direction  # type: ignore[attr-defined]
    return direction


def _more_steps_asked(state: dict[str, Any], steps: int) -> bool:
    done = int(state.get("step", 0))
    return steps > done and state.get("stop_reason") == f"{done} steps done"


def _checkpointer(path: str | Path | None) -> Any:
    if path is None:
        return nullcontext(InMemorySaver())
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        connection = sqlite3.connect(str(target), check_same_thread=False)
    except sqlite3.Error as error:
        raise OptimizerError(f"optimize: cannot open the checkpoint {target}: {error}") from None
    saver = SqliteSaver(connection)
    return _closing_saver(saver, connection)


class _closing_saver:  # noqa: N801 - a context manager used like closing()
    def __init__(self, saver: SqliteSaver, connection: sqlite3.Connection) -> None:
        self.saver, self.connection = saver, connection

    def __enter__(self) -> SqliteSaver:
        return self.saver

    def __exit__(self, *exc: object) -> None:
        with closing(self.connection):
            pass


def _check_same_parameters(
    state: dict[str, Any], optimizer: Optimizer, checkpoint: Any, thread_id: str
) -> None:
    stored = set(state.get("values", {}))
    names = {p.name for p in optimizer.parameters}
    if stored != names:
        raise OptimizerError(
            f"optimize: checkpoint {checkpoint} thread {thread_id!r} holds parameters "
            f"{sorted(stored)}, not {sorted(names)}; use another thread_id or file"
        )
