"""What a run needs, checked before it starts (and by `validate`, which promises the same):
the optimizer accepts the task's options, the LLM can be built and its cassette opened, and
a resumed run still belongs to the task as it is now."""

from __future__ import annotations

from typing import Any

from optograph.agent.factory import make_optimizer
from optograph.graph.errors import OptographError

from .errors import RunStoreError, TaskError
from .llm_setup import TaskLLMs
from .paths import read_text_file
from .prepare import PreparedTask, takes_argument
from .run_store import RunStore
from .task_file import Task
from .yaml_lines import parse_yaml


def needs_llm(prepared: PreparedTask) -> bool:
    """LLM optimizers need one; a search does only when its workflow takes `llm`."""
    return (prepared.task.spec.optimizer.name != "evolution"
            or takes_argument(prepared.workflow, "llm"))


def preflight(prepared: PreparedTask, llms: TaskLLMs) -> None:
    """TaskError (one line, file:line: field) for anything the run would fail on later:
    an unknown optimizer option, an LLM that cannot be built (no API key, no model file,
    a file that is not a model), a cassette that cannot be used."""
    spec = prepared.task.spec
    if needs_llm(prepared):
        llms.check()
    trainable = [p for p in prepared.make_parameters().values() if p.trainable]
    task_optimizer(prepared.task, trainable, llms, spec.feedback.maximize)


def task_optimizer(task: Task, trainable: list[Any], llms: TaskLLMs, maximize: bool) -> Any:
    """The optimizer a task names, over `trainable`, with its options (an LLM optimizer skips
    an unusable reply and notes it per step); a bad name or option is a one-line TaskError."""
    options: dict[str, Any] = dict(task.spec.optimizer.options)
    options.setdefault("minimize", not maximize)
    name = task.spec.optimizer.name
    llm = None
    if name != "evolution":
        options.setdefault("on_invalid", "skip")
        llm = llms.llm("optimizer")
    try:
        return make_optimizer(name, trainable, llm, options,
                              where=task.where("optimizer", "options"))
    except OptographError as exc:
        raise TaskError(str(exc)) from None


def _differences(old: Any, new: Any, location: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        found: list[str] = []
        for key in [*old, *(k for k in new if k not in old)]:
            where = f"{location}.{key}" if location else str(key)
            if key not in new:
                found.append(f"{where} removed")
            elif key not in old:
                found.append(f"{where} added")
            else:
                found += _differences(old[key], new[key], where)
        return found
    if old != new:
        return [f"{location or '(top level)'}: {old!r:.40} -> {new!r:.40}"]
    return []


def task_changes(stored_text: str, current_text: str) -> list[str]:
    """The fields that differ between the task a run was started with and the task now
    (comments and layout do not count)."""
    if stored_text == current_text:
        return []
    try:
        stored = parse_yaml(stored_text, "stored task")
    except TaskError:
        return ["the stored task is not readable"]
    current = parse_yaml(current_text, "task")
    return _differences(stored.data if stored else None, current.data if current else None)


def check_resumable(store: RunStore, task: Task, allow_changed: bool) -> None:
    """A run is resumed only with the task it was started with, unless the caller allows
    a changed task (`allow_changed`), and only when its stored steps are readable (damage is
    reported before anything runs)."""
    store.steps()
    changes = task_changes(store.meta().get("task_yaml", ""),
                           read_text_file(task.path, what="task file"))
    if changes and not allow_changed:
        shown = "; ".join(changes[:3]) + (f" (and {len(changes) - 3} more)" if len(changes) > 3 else "")
        raise RunStoreError(
            f"{store.folder}: the task file changed since this run started ({shown}); "
            "allow_changed_task (--allow-changed-task) continues with the task as it is now"
        )
