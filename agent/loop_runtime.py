"""What one optimization loop holds in memory besides its checkpointed state, and the nodes of
the loop's graph (agent/loop.py `optimize` builds and runs it):

    run_workflow -> collect_feedback -> (stop? -> finish) -> propose -> record -> run_workflow

Each node reads the checkpointed LoopState and returns its changes; the live graph of the
current step (outputs, feedback) stays here and is rebuilt after a resume."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

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
from .loop_state import LoopState, StopRules, jsonable_values, restore_values
from .optimizer import Optimizer

EventHandler = Callable[[dict[str, Any]], None]


class LoopRuntime:
    """What a loop holds in memory besides its checkpointed state: the live graph of the
    current step (rebuilt by re-running the workflow after a resume) and the callbacks."""

    def __init__(
        self,
        workflow: Callable[..., Node],  # () -> Node, or (example) -> Node with examples
        feedback: Callable[..., Any],  # (output), or (output, example)
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
        return self._judge_output(self.outputs[index],
                                  self.examples[index] if self.takes_example else None)

    def _judge_output(self, output: Node, example: Any) -> FeedbackResult:
        if output.kind == "exception":
            return FeedbackResult(f"the workflow failed: {output.data}", None)
        if self.takes_example:
            returned = self.feedback(output, example)
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
        """The score of the parameters' values as this thread reads them (a best-of-n
        candidate, in its parameter_values block): run the step's workflow (its minibatch)
        and judge it, in a graph of its own. Safe to call from several threads at once: it
        changes nothing shared (the step's outputs and the parameters' feedback stay)."""
        with Run("candidate"):
            if self.batches is None:
                outputs, examples = [self._run_one(None)], [None]
            else:  # the step's examples; the candidates running beside share max_concurrency
                examples = self.batches.batch(self.output_step)
                share = self.executor.max_concurrency // max(getattr(self.optimizer, "candidates", 1), 1)
                outputs = run_batch(Executor(max(share, 1)), self._run_one, examples)  # type: ignore[assignment]
            judged = [self._judge_output(o, e) for o, e in zip(outputs, examples, strict=True)]
        return combine_feedback(judged)

    def route(self, state: LoopState) -> str:
        return "finish" if state.get("stop_reason") else "propose"


def build_loop_graph(runtime: LoopRuntime) -> StateGraph:
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


def _preview_values(values: dict[str, Any]) -> dict[str, Any]:
    from optograph.graph.preview import preview

    return {name: v if isinstance(v, (int, float, bool)) else preview(v, 300) for name, v in values.items()}
