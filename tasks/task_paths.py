"""Every file a task names, found without importing or running anything, and checked to lie
inside one root folder: what the MCP server does before it validates or runs a task file it
was given (a task there may not reach outside the served folder)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

from .errors import TaskError
from .paths import confine
from .references import reference_file
from .task_file import FileWorkflow, LangGraphWorkflow, Task

PYTHON_SPEC = "python:"
LOCAL_SPEC = "local:"


def _references(task: Task) -> Iterator[tuple[str, str]]:
    """(field, `module:function` or `file.py:function`) of every reference in the task."""
    spec = task.spec
    workflow = spec.workflow
    if isinstance(workflow, FileWorkflow):
        yield "workflow.file", f"{workflow.file}:{workflow.function}"
    elif isinstance(workflow, LangGraphWorkflow):
        yield "workflow.langgraph", workflow.langgraph
    else:
        yield "workflow", workflow
    if spec.feedback.function:
        yield "feedback.function", spec.feedback.function
    if spec.data is not None and spec.data.generator:
        yield "data.generator", spec.data.generator
    for name, parameter in spec.parameters.items():
        factory = getattr(parameter.search_space, "factory", None)
        if factory:
            yield f"parameters.{name}.search_space.factory", factory
    llm = spec.optimizer.llm or ""
    if llm.startswith(PYTHON_SPEC):
        yield "optimizer.llm", llm[len(PYTHON_SPEC):]


def _files(task: Task) -> Iterator[tuple[str, Path]]:
    """(field, path) of every file the task names, relative paths resolved as the runner
    resolves them (the task's folder; the store: the working folder)."""
    spec = task.spec
    for field, reference in _references(task):
        file = reference_file(reference, task.folder)
        if file is not None:
            yield field, file
    if spec.data is not None and spec.data.file:
        yield "data.file", task.folder / spec.data.file
    if spec.feedback.builtin == "pytest" and "tests" in spec.feedback.options:
        yield "feedback.options.tests", task.folder / str(spec.feedback.options["tests"])
    if spec.optimizer.cassette is not None:
        yield "optimizer.cassette.path", task.folder / spec.optimizer.cassette.path
    llm = spec.optimizer.llm or ""
    if llm.startswith(LOCAL_SPEC):
        yield "optimizer.llm", task.folder / llm[len(LOCAL_SPEC):]
    yield "store", Path(spec.store)


def check_task_paths(task: Task, root: Path, imports: bool = True) -> None:
    """TaskError when a file the task names lies outside `root` (symlinks resolved); with
    `imports`, also when a named file or module is missing (found, never imported)."""
    for field, path in _files(task):
        confine(path, root, f"{task.where(*field.split('.')[:2])}: {field}")
    if not imports:
        return
    for field, reference in _references(task):
        where = task.where(*field.split(".")[:2])
        file = reference_file(reference, task.folder)
        if file is not None:
            if not file.is_file():
                raise TaskError(f"{where}: {field}: no such Python file {file.name!r}")
            continue
        top = reference.rpartition(":")[0].split(".")[0]
        try:
            found = importlib.util.find_spec(top) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise TaskError(f"{where}: {field}: module {top!r} not found")
