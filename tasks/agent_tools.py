"""optograph's own operations as LangChain tools (BaseTool with a pydantic argument schema):
list and validate task files, run a task, show a run, and (with the diffusion extra)
evaluate a diffusion schedule and run a diffusion search. The chat agent and the MCP server
use them; users can give them to their own agents.

Tools return JSON text. Bad input (a broken task file, a missing run) is returned as
`{"error": "..."}` so an agent can read it and try again, instead of ending the session."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool
from pydantic import BaseModel, Field

from optograph.graph.errors import OptographError

from .paths import confine
from .preflight import preflight
from .prepare import prepare_task
from .run_store import find_run
from .run_view import RunView
from .runner import RunOptions, run_task, task_llms
from .task_file import load_task
from .task_paths import check_task_paths


def _dump(value: Any) -> str:
    return json.dumps(value, default=repr)


def _error(exc: Exception) -> str:
    return _dump({"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__})


class ListTasksArgs(BaseModel):
    folder: str = Field("tasks/examples", description="folder to search for *.yaml task files")


class ListTasksTool(BaseTool):
    name: str = "list_tasks"
    description: str = (
        "List the optograph task files (*.yaml) in a folder, with each task's name, "
        "description, optimizer and parameters."
    )
    args_schema: type[BaseModel] = ListTasksArgs

    def _run(self, folder: str = "tasks/examples", **_: Any) -> str:
        root = Path(folder)
        if not root.is_dir():
            return _dump({"error": f"{folder}: no such folder"})
        tasks = []
        for path in sorted(root.glob("*.yaml")):
            try:
                spec = load_task(path).spec
                tasks.append({"path": str(path), "name": spec.name,
                              "description": spec.description,
                              "optimizer": spec.optimizer.name,
                              "parameters": list(spec.parameters)})
            except OptographError as exc:
                tasks.append({"path": str(path), "error": str(exc)})
        return _dump(tasks)


class TaskPathArgs(BaseModel):
    path: str = Field(description="path of the task file (YAML)")


class ValidateTaskTool(BaseTool):
    name: str = "validate_task"
    description: str = (
        "Check an optograph task file without running it: the YAML, every field, and that "
        "the workflow, feedback function and data it names can be loaded."
    )
    args_schema: type[BaseModel] = TaskPathArgs
    # set (the MCP server's folder): the check is static (files it names exist inside root,
    # modules are found), and no code of the task is imported or run
    root: Path | None = None

    def _run(self, path: str, **_: Any) -> str:
        try:
            if self.root is not None:
                task = load_task(confine(path, self.root, "path"))
                check_task_paths(task, self.root)
                spec = task.spec
                return _dump({"valid": True, "name": spec.name, "optimizer": spec.optimizer.name,
                              "parameters": {n: p.value for n, p in spec.parameters.items()},
                              "checked": "statically: no task code was run"})
            prepared = prepare_task(load_task(path))
            preflight(prepared, task_llms(prepared.task, RunOptions()))
        except OptographError as exc:
            return _dump({"valid": False, "error": str(exc)})
        spec = prepared.task.spec
        return _dump({"valid": True, "name": spec.name, "optimizer": spec.optimizer.name,
                      "parameters": {n: p.value for n, p in spec.parameters.items()},
                      "examples": len(prepared.examples) if prepared.examples else 0})


class RunTaskArgs(BaseModel):
    path: str = Field(description="path of the task file (YAML)")
    steps: int | None = Field(None, ge=1, description="steps (evaluations for evolution)")
    llm: str | None = Field(None, description='the optimizer\'s model, e.g. "local"')
    resume: str | None = Field(None, description="a run folder of this task to continue")
    store: str | None = Field(None, description="where runs are stored (default: the task's)")


class RunTaskTool(BaseTool):
    name: str = "run_task"
    description: str = (
        "Run an optograph task file (optimize its parameters); returns the run folder, the "
        "best score and the best parameters. Progress goes to stderr."
    )
    args_schema: type[BaseModel] = RunTaskArgs
    root: Path | None = None  # set: the task and every file it names must lie inside root

    def _run(self, path: str, steps: int | None = None, llm: str | None = None,
             resume: str | None = None, store: str | None = None, **_: Any) -> str:
        options = RunOptions(resume=resume, llm=llm, steps=steps,
                             store=Path(store) if store else None, progress=sys.stderr,
                             quiet=True)
        try:
            if self.root is not None:
                check_task_paths(load_task(confine(path, self.root, "path")), self.root,
                                 imports=False)
            result = run_task(path, options)
        except OptographError as exc:
            return _error(exc)
        return _dump({"run": str(result.folder), "status": result.status,
                      "steps": result.steps, "best_score": result.best_score,
                      "best_parameters": result.best_values})


class ShowRunArgs(BaseModel):
    run: str = Field(description="a run folder, or its name in the store")
    store: str = Field("runs", description="the run store")


class ShowRunTool(BaseTool):
    name: str = "show_run"
    description: str = (
        "Show a stored optograph run: status, best score, best parameters, the score of "
        "every step, tokens and cost."
    )
    args_schema: type[BaseModel] = ShowRunArgs

    def _run(self, run: str, store: str = "runs", **_: Any) -> str:
        try:
            return _dump(RunView.load(find_run(run, Path(store))).to_dict())
        except OptographError as exc:
            return _error(exc)


class ListRunsArgs(BaseModel):
    store: str = Field("runs", description="the run store")


class ListRunsTool(BaseTool):
    name: str = "list_runs"
    description: str = "List the stored optograph runs: name, task, status, steps, best score."
    args_schema: type[BaseModel] = ListRunsArgs

    def _run(self, store: str = "runs", **_: Any) -> str:
        from .run_store import list_runs

        rows = []
        for folder in list_runs(Path(store)):
            try:
                data = RunView.load(folder).to_dict()
                rows.append({k: data[k] for k in ("run", "task", "status", "steps", "best_score")})
            except OptographError as exc:
                rows.append({"run": str(folder), "error": str(exc)})
        return _dump(rows)


def diffusion_tools() -> list[BaseTool]:
    """The diffusion tool-task's tools (evaluate one schedule, run a search) on the shipped
    digits model, when the diffusion extra is installed; none otherwise."""
    try:
        from optograph.tools.diffusion.langchain_tools import (
            EvaluateScheduleTool,
            SearchScheduleTool,
        )
    except ImportError:
        return []
    return [EvaluateScheduleTool(), SearchScheduleTool()]


def optograph_tools(include_diffusion: bool = True, root: Path | None = None) -> list[BaseTool]:
    """Every optograph tool (the diffusion ones only when their extra is installed). With
    `root`, the task tools keep to that folder and validation runs no task code."""
    tools: list[BaseTool] = [ListTasksTool(), ValidateTaskTool(root=root), RunTaskTool(root=root),
                             ListRunsTool(), ShowRunTool()]
    if include_diffusion:
        tools += diffusion_tools()
    return tools


__all__ = [
    "ListRunsTool", "ListTasksTool", "RunTaskTool", "ShowRunTool", "ValidateTaskTool",
    "diffusion_tools", "optograph_tools",
]
