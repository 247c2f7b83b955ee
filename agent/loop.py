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
the executor (`max_concurrency` at once, Ray when asked), gives each output
`feedback(output, example)`, and scores the step with the mean (one output per example,
each with its own feedback, so the optimizer sees every example's graph).

Only JSON data is checkpointed; the live graph of a step is rebuilt after a resume by running
the step's workflow (and its feedback function) again."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Sequence
from contextlib import closing, nullcontext
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph

from optograph.graph.errors import ExecutionError
from optograph.graph.node import Node, feedback_text
from optograph.graph.run import Run

from .batching import Minibatches, combine_feedback, run_batch, takes_example
from .errors import OptimizerError
from .executor import Executor, NotRun, make_executor
from .feedback import (
    FeedbackResult,
    check_direction,
    describe_score,
    is_better,
    parse_feedback,
)
from .loop_state import LoopState, OptimizationResult, StopRules, jsonable_values, restore_values
from .optimizer import Optimizer

EventHandler = Callable[[dict[str, Any]], None]


class _Runtime:
    """What a loop holds in memory besides its checkpointed state: the live graph of the
    current step (rebuilt by re-running the workflow after a resume) and the callbacks."""

    def __init__(
        self,
        workflow: Callable[[], Node],
        feedback: Callable[[Node], Any],
        optimizer: Optimizer,
        rules: StopRules,
        usage: Any,
        on_event: EventHandler | None,
        batches: Minibatches | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.workflow, self.feedback, self.optimizer = workflow, feedback, optimizer
        self.rules, self.usage, self.on_event = rules, usage, on_event
        self.batches = batches
        self.validation: list[Any] | None = None  # held-out examples: the best is chosen on them
        self.executor = executor or make_executor(None, 1)
        self.takes_example = batches is not None and takes_example(feedback)
        self.output: Node | None = None  # output of the current step (None: a batch)
        self.outputs: list[Node] = []  # the step's outputs (one, or one per example)
        self.examples: list[Any] = []  # the examples of those outputs (a batch)
        self.output_step = -1
        self.direction_known = True
        self.feedback_given = False
        self.synced = False

    def say_direction(self) -> None:
        if self.direction_known:
            shown = describe_score(None, self.rules.minimize, self.rules.target)
            print(f"optimize: score {shown.removeprefix('- ')}", file=sys.stderr)

    def emit(self, event: str, **data: Any) -> None:
        if self.on_event is not None:
            self.on_event({"event": event, **data})

    # -- keeping memory in step with the checkpoint ---------------------------------------
    def sync(self, state: LoopState) -> None:
        """After a resume, put the checkpointed values and optimizer state back in place."""
        if self.synced:
            return
        self.synced = True
        if state.get("optimizer_state"):
            self.optimizer.load_state_dict(state["optimizer_state"])
        restore_values(self.optimizer.parameters, state.get("values", {}))
        if self.usage is not None and state.get("usage"):
            self.usage.load_dict(state["usage"])

    def run(self, step: int) -> list[Node]:
        """Run the workflow (on the step's minibatch); a traced failure gives its exception
        node as the output."""
        self.optimizer.zero_feedback()
        self.feedback_given = False
        with Run(f"step{step}"):
            if self.batches is None:
                outputs, examples = [self._run_one(None)], []
            else:
                batch = self.batches.batch(step)
                results = run_batch(self.executor, self._run_one, batch, admit=self._admit())
                ran = [(o, e) for o, e in zip(results, batch, strict=True)
                       if not isinstance(o, NotRun)]
                outputs, examples = [o for o, _ in ran], [e for _, e in ran]
                if len(ran) < len(batch):
                    reason = next(o for o in results if isinstance(o, NotRun)).reason
                    self.emit("not_run", step=step, count=len(batch) - len(ran), reason=reason)
        self.outputs, self.examples, self.output_step = outputs, examples, step
        self.output = outputs[0] if self.batches is None else None
        return outputs

    def _run_one(self, example: Any) -> Node:
        try:
            output = self.workflow() if self.batches is None else self.workflow(example)
        except ExecutionError as error:
            output = error.exception_node
        if not isinstance(output, Node):
            raise OptimizerError(
                f"optimize: the workflow must return a node (the traced output); got "
                f"{type(output).__name__}"
            )
        return output

    def _admit(self) -> Any:
        """The budget check before each example of a batch: the first always runs (so each
        step is evaluated), the others only while the token and cost budgets last."""
        asked = [0]

        def admit() -> str | None:
            asked[0] += 1
            return None if asked[0] == 1 else self.rules.budget_reason(self.usage)

        return admit

    def _judge(self, index: int) -> FeedbackResult:
        output = self.outputs[index]
        if output.kind == "exception":
            return FeedbackResult(f"the workflow failed: {output.data}", None)
        if self.takes_example:
            returned = self.feedback(output, self.examples[index])
        else:
            returned = self.feedback(output)
        return parse_feedback(returned, "optimize: feedback function")

    def give_feedback(self) -> tuple[float | None, str]:
        """Call the feedback function on every output of the step (through the executor;
        a failed run's feedback is its error) and backward each, in order."""
        results = self.executor.map(self._judge, list(range(len(self.outputs))))
        for output, result in zip(self.outputs, results, strict=True):
            output.backward(result.value)  # type: ignore[union-attr]
        self.feedback_given = True
        if not results:
            return None, "no example was run"
        combined = combine_feedback(results)  # type: ignore[arg-type]
        return combined.score, feedback_text(combined.value)

    def live_output(self, state: LoopState, with_feedback: bool) -> list[Node]:
        """The outputs of the current step; after a resume, rebuilt by running it again."""
        step = state.get("step", 0)
        if self.output_step != step:
            self.run(step)
        if with_feedback and not self.feedback_given:
            self.give_feedback()
        return self.outputs

    # -- the nodes --------------------------------------------------------------------------
    def run_workflow(self, state: LoopState) -> dict[str, Any]:
        self.sync(state)
        outputs = self.run(state.get("step", 0))
        errors = [str(o.data) for o in outputs if o.kind == "exception"]
        return {"workflow_error": errors[0] if errors else None}

    def collect_feedback(self, state: LoopState) -> dict[str, Any]:
        self.sync(state)
        step = state.get("step", 0)
        self.live_output(state, with_feedback=False)
        score, text = self.give_feedback()
        if score is not None and not self.direction_known:
            check_direction(None, None, "optimize: the feedback gave a score")  # raises
        update: dict[str, Any] = {"score": score, "feedback": text}
        if self.validation is not None:  # the best (and the target) are judged held out
            update["train_score"] = score
            score = update["score"] = self.validate(step)
        best = state.get("best_score")
        if score is not None and is_better(score, best, self.rules.minimize):
            update.update(best_score=score, best_step=step,
                          best_values=jsonable_values(self.optimizer.parameters), no_improvement=0)
        elif score is not None and best is not None:  # unscored evaluations do not count
            update["no_improvement"] = state.get("no_improvement", 0) + 1
        update["evaluated_steps"] = state.get("evaluated_steps", 0) + 1
        update["stop_reason"] = self.rules.stop_reason(
            {**state, **update}, self.usage, self.optimizer
        )
        self.emit("evaluated", step=step, score=score, feedback=text,
                  best_score=update.get("best_score", best), outputs=list(self.outputs),
                  values=state.get("evaluated_values", {}))
        return update

    def propose(self, state: LoopState) -> dict[str, Any]:
        self.sync(state)
        self.live_output(state, with_feedback=True)
        step = state.get("step", 0)
        self.emit("proposing", step=step)
        try:
            updates = self.optimizer.step()
        except OptimizerError as error:
            self.emit("error", step=step, error=str(error))
            raise
        changes = {p.name: v for p, v in updates.items()}
        note = getattr(self.optimizer, "skip_reason", None)
        note = f"no update: {note}" if note else None
        self.emit("applied", step=step, updates=_preview_values(changes), note=note)
        return {
            "values": jsonable_values(self.optimizer.parameters),
            "optimizer_state": self.optimizer.state_dict(),
            "updates": _preview_values(changes),
            "note": note,
            "usage": self.usage.to_dict() if self.usage is not None else {},
        }

    def record(self, state: LoopState) -> dict[str, Any]:
        step = state.get("step", 0)
        entry = {
            "step": step,
            "score": state.get("score"),
            "feedback": state.get("feedback", ""),
            "values": state.get("evaluated_values", {}),
            "updates": state.get("updates", {}),
            "next_values": state.get("values", {}),
            "note": state.get("note"),
            **({"train_score": state.get("train_score")} if self.validation is not None else {}),
        }
        outputs = list(self.outputs) if self.output_step == step else []
        self.emit("step", **entry, outputs=outputs, best_score=state.get("best_score"),
                  optimizer_state=state.get("optimizer_state", {}))
        return {"history": [*state.get("history", []), entry], "step": step + 1,
                "evaluated_values": state.get("values", {})}

    def finish(self, state: LoopState) -> dict[str, Any]:
        entry = {
            "step": state.get("step", 0), "score": state.get("score"),
            "feedback": state.get("feedback", ""), "values": state.get("evaluated_values", {}),
            "updates": {}, "next_values": state.get("evaluated_values", {}), "note": None,
            **({"train_score": state.get("train_score")} if self.validation is not None else {}),
        }
        step = state.get("step", 0)
        outputs = list(self.outputs) if self.output_step == step else []
        self.emit("stop", reason=state.get("stop_reason"), step=step,
                  best_score=state.get("best_score"), entry=entry, outputs=outputs,
                  optimizer_state=state.get("optimizer_state", {}))
        return {"history": [*state.get("history", []), entry],
                "usage": self.usage.to_dict() if self.usage is not None else {}}

    def validate(self, step: int) -> float | None:
        """The mean score of the current values on the validation examples: run and judged
        like a minibatch, in a graph of its own; its feedback reaches no parameter."""
        assert self.validation is not None
        kept = self.outputs, self.examples
        try:
            with Run(f"step{step}.validation"):
                results = run_batch(self.executor, self._run_one, self.validation)
            self.outputs = [o for o in results if isinstance(o, Node)]
            self.examples = [e for o, e in zip(results, self.validation, strict=True)
                             if isinstance(o, Node)]
            judged = self.executor.map(self._judge, list(range(len(self.outputs))))
        finally:
            self.outputs, self.examples = kept
        return combine_feedback(judged).score if judged else None  # type: ignore[arg-type]

    def evaluate_again(self) -> FeedbackResult:
        """The score of the parameters' current values (best-of-n candidates): run the
        step's workflow and feedback again, in a graph of its own; the step's own outputs
        and feedback are kept."""
        kept = self.outputs, self.examples, self.output_step, self.feedback_given
        try:
            with Run("candidate"):
                self.run(kept[2])
                score, text = self.give_feedback()
        finally:
            self.outputs, self.examples, self.output_step, self.feedback_given = kept
        return FeedbackResult(text, score)

    def route(self, state: LoopState) -> str:
        return "finish" if state.get("stop_reason") else "propose"


def build_loop_graph(runtime: _Runtime) -> StateGraph:
    graph = StateGraph(LoopState)
    graph.add_node("run_workflow", runtime.run_workflow)
    graph.add_node("collect_feedback", runtime.collect_feedback)
    graph.add_node("propose", runtime.propose)
    graph.add_node("record", runtime.record)
    graph.add_node("finish", runtime.finish)
    graph.add_edge(START, "run_workflow")
    graph.add_edge("run_workflow", "collect_feedback")
    graph.add_conditional_edges("collect_feedback", runtime.route, ["propose", "finish"])
    graph.add_edge("propose", "record")
    graph.add_edge("record", "run_workflow")
    graph.add_edge("finish", END)
    return graph


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
    most `max_concurrency` at once on `executor` ("local", "ray", "ray://HOST:PORT"); the
    step's score is the mean. With `validation` (held-out examples, run like `examples`
    after each step's evaluation, their feedback given to no parameter), the score that
    chooses the best values, meets the target and counts for patience is the validation
    split's mean; the history keeps both (`score`, `train_score`). The budgets stop admitting examples once reached: at most
    `max_concurrency - 1` examples already running, plus one optimizer step, overshoot them."""
    if steps < 0:
        raise OptimizerError(f"optimize(steps={steps}): must be >= 0")
    if usage is None:
        usage = getattr(getattr(optimizer, "llm", None), "usage", None)
    direction = _declared_direction(minimize, maximize, feedback, optimizer)
    runner = make_executor(executor, max_concurrency)
    batches = None if examples is None else Minibatches(examples, batch_size)
    if batches is not None and not batches.items:
        raise OptimizerError("optimize: examples is empty; give at least one example")
    if validation is not None and (batches is None or not list(validation)):
        raise OptimizerError("optimize: validation needs examples, and at least one of its own")
    rules = StopRules(steps, target, patience, max_tokens, max_cost,
                      True if direction is None else direction)
    runtime = _Runtime(workflow, feedback, optimizer, rules, usage, on_event, batches, runner)
    runtime.direction_known = direction is not None
    runtime.validation = list(validation) if validation is not None else None
    if on_event is None:  # nobody shows progress: say at least which way the score goes
        runtime.say_direction()
    if getattr(optimizer, "candidates", 1) > 1 and getattr(optimizer, "evaluate", 0) is None:
        optimizer.evaluate = runtime.evaluate_again  # type: ignore[attr-defined]
    config = RunnableConfig(configurable={"thread_id": thread_id}, recursion_limit=5 * steps + 50)
    with _checkpointer(checkpoint) as saver:
        app = build_loop_graph(runtime).compile(checkpointer=saver)
        snapshot = app.get_state(config)
        if snapshot.values and snapshot.next:
            _check_same_parameters(snapshot.values, optimizer, checkpoint, thread_id)
            runtime.emit("resume", step=snapshot.values.get("step", 0), at=list(snapshot.next))
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


def _preview_values(values: dict[str, Any]) -> dict[str, Any]:
    from optograph.graph.preview import preview

    return {name: v if isinstance(v, (int, float, bool)) else preview(v, 300) for name, v in values.items()}
