"""Turn a validated task into what the runner calls: parameter nodes, the workflow, the
feedback function, the examples and the search spaces. `prepare_task` checks everything a
task file names (imports, signatures, data) without running the workflow."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optograph.graph as og
from optograph.agent.errors import OptimizerError
from optograph.agent.feedback import FeedbackResult, parse_feedback
from optograph.graph.search_space import SearchSpace

from .errors import TaskError
from .feedback_functions import builtin_feedback
from .references import (
    build_search_space,
    check_callable,
    check_keywords,
    load_examples,
    load_validation,
    positional_capacity,
    resolve_reference,
)
from .task_file import FileWorkflow, LangGraphWorkflow, Task


@dataclass
class PreparedTask:
    task: Task
    workflow: Callable[..., Any]
    feedback: Callable[..., Any]
    feedback_takes_example: bool
    examples: list[Any] | None
    spaces: dict[str, SearchSpace] = field(default_factory=dict)
    validation: list[Any] | None = None  # held-out examples (data.validation_*)

    @property
    def name(self) -> str:
        return self.task.spec.name

    def make_parameters(self) -> dict[str, og.Node]:
        """Fresh nodes for the task's parameters (trainable ones are what the optimizer sees),
        named in a run scope of their own so their names are exactly the task's."""
        nodes = {}
        with og.Run(self.name):
            for name, spec in self.task.spec.parameters.items():
                nodes[name] = og.node(
                    self.restore(name, spec.value), trainable=spec.trainable, name=name,
                    description=spec.description, constraint=spec.constraint,
                    search_space=self.spaces.get(name),
                    value_type=None if spec.type == "any" else spec.type,
                )
        return nodes

    def restore(self, name: str, value: Any) -> Any:
        """A value as its search space holds it (a stored dict back into a schedule, ...)."""
        space = self.spaces.get(name)
        if space is None:
            return value
        try:
            return space.validate(value)
        except (ValueError, TypeError):
            return value

    def run_workflow(self, parameters: dict[str, og.Node], example: Any) -> og.Node:
        """One traced run. A failing operation gives its exception node (feedback reaches the
        parameters through it, as in Trace); a non-node result is reported."""
        kwargs: dict[str, Any] = dict(parameters)
        if self.examples is not None:
            kwargs["example"] = example
        try:
            output = self.workflow(**kwargs)
        except og.ExecutionError as exc:
            aborted = _aborting_cause(exc)
            if aborted is not None:  # a LangGraph node's replay miss, say: not feedback
                raise aborted from None
            return exc.exception_node
        except og.OptographError:
            raise
        except Exception as exc:  # outside traced operations: nothing to give feedback to
            raise TaskError(
                f"{self.task.where('workflow')}: the workflow failed outside its traced "
                f"operations: {type(exc).__name__}: {exc} {_where_raised(exc)}".rstrip()
            ) from None
        if not isinstance(output, og.Node):
            raise TaskError(
                f"{self.task.where('workflow')}: the workflow returned {type(output).__name__}, "
                "not a traced node; build its result from the parameter nodes with traced "
                "operations (@og.bundle or operators)"
            )
        return output

    def judge(self, output: og.Node, example: Any) -> FeedbackResult:
        """The feedback on one output (the plain value), by the one convention
        (agent/feedback.py); a failed run is never judged: the loop gives its error."""
        args = (output.data, example) if self.feedback_takes_example else (output.data,)
        try:
            result = self.feedback(*args)
        except TaskError:
            raise
        except Exception as exc:
            raise TaskError(
                f"{self.task.where('feedback')}: the feedback function failed: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        try:
            return parse_feedback(result, f"{self.task.where('feedback')}: the feedback function")
        except OptimizerError as exc:
            raise TaskError(str(exc)) from None


def _aborting_cause(exc: BaseException) -> og.RunAbortedError | None:
    """The error that must end the run, if one caused this one (LangGraph records a failing
    node as an exception node whatever the error was)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, og.RunAbortedError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _where_raised(exc: BaseException) -> str:
    """`(at file:line)` of the innermost frame of the exception's traceback."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return ""
    return f"(at {tb.tb_frame.f_code.co_filename}:{tb.tb_lineno})"


def takes_argument(fn: Callable[..., Any], name: str) -> bool:
    """Whether fn (or the function a bundle wraps) has an argument `name`."""
    try:
        params = inspect.signature(getattr(fn, "fn", fn)).parameters
    except (TypeError, ValueError):
        return False
    return name in params


def _workflow(task: Task) -> Callable[..., Any]:
    spec = task.spec.workflow
    names = list(task.spec.parameters)
    where = task.where("workflow")
    if isinstance(spec, LangGraphWorkflow):
        from .langgraph_workflow import langgraph_workflow

        return langgraph_workflow(spec, task, names)
    if isinstance(spec, FileWorkflow):
        reference = f"{spec.file}:{spec.function}"
    else:
        reference = spec
    fn = resolve_reference(reference, task.folder, where)
    if not callable(fn):
        raise TaskError(f"{where}: {reference!r} is {type(fn).__name__}, not a function")
    check_keywords(fn, names, reference, where)
    if task.spec.data is not None and not takes_argument(fn, "example"):
        raise TaskError(f"{where}: the task has data, so workflow {reference!r} needs an "
                        "`example` argument")
    return fn  # type: ignore[no-any-return]


def prepare_task(task: Task) -> PreparedTask:
    """Resolve and check everything the task names. Raises TaskError (file:line: field: what)."""
    spec = task.spec
    workflow = _workflow(task)
    examples = load_examples(spec.data, task) if spec.data is not None else None
    validation = None
    if spec.data is not None and examples is not None:
        examples, validation = load_validation(spec.data, task, examples)
    shapes = (2,) if examples is not None else (1, 2)
    if spec.feedback.builtin is not None:
        feedback = builtin_feedback(spec.feedback.builtin, spec.feedback.options, task.folder)
        takes_example = True
    else:
        assert spec.feedback.function is not None
        where = task.where("feedback", "function")
        feedback = resolve_reference(spec.feedback.function, task.folder, where)
        check_callable(feedback, spec.feedback.function, where, shapes)
        try:
            required, _ = positional_capacity(feedback)
        except (TypeError, ValueError):
            required = 1
        takes_example = examples is not None or required >= 2
    spaces = {
        name: build_search_space(p.search_space, task, name)
        for name, p in spec.parameters.items()
        if p.search_space is not None
    }
    for name, space in spaces.items():
        try:
            space.validate(spec.parameters[name].value)
        except ValueError as exc:
            raise TaskError(
                f"{task.where('parameters', name, 'value')}: parameters.{name}.value is "
                f"outside its search space: {exc}"
            ) from None
    return PreparedTask(task, workflow, feedback, takes_example, examples, spaces, validation)
