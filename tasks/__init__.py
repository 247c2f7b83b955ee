"""optograph.tasks: the entry points. Task files and their runner, the run store and its
report, the `optograph` command, the chat agent, the MCP server, and optograph's operations
as LangChain tools (importing this package loads none of the heavy parts: no torch, no
LLM client, no MCP SDK)."""

from .errors import RunStoreError, TaskError
from .prepare import PreparedTask, prepare_task
from .run_store import RunStore
from .run_view import RunView
from .runner import RunOptions, RunResult, run_task
from .task_file import Task, TaskSpec, load_task, task_json_schema

__all__ = [
    "PreparedTask", "RunOptions", "RunResult", "RunStore", "RunStoreError", "RunView", "Task",
    "TaskError", "TaskSpec", "load_task", "prepare_task", "run_task", "task_json_schema",
]
