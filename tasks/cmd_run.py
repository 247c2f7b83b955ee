"""`optograph run TASK.yaml [--resume RUN] [--llm SPEC] [--workflow-llm SPEC] [--steps N]
[--store DIR]`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from optograph.agent.executor import ExecutorError

from .cli import UsageError
from .runner import RunOptions, run_task

# library fields -> the flags that set them (errors name the field; the CLI names the flag)
_FLAGS = {"max_concurrency": "--max-concurrency", "executor": "--executor"}


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    options = RunOptions(resume=args.resume, llm=args.llm, workflow_llm=args.workflow_llm,
                         steps=args.steps,
                         store=Path(args.store) if args.store else None,
                         cassette=Path(args.cassette) if args.cassette else None,
                         cassette_mode=args.cassette_mode,
                         max_concurrency=args.max_concurrency, executor=args.executor,
                         allow_changed_task=args.allow_changed_task)
    try:
        result = run_task(args.task, options)
    except KeyboardInterrupt:  # the runner has said where the run is and how to resume it
        return 130
    except ExecutorError as error:
        field, sep, rest = str(error).partition(":")
        given = field in _FLAGS and getattr(args, field) is not None
        raise UsageError(f"{_FLAGS[field]}:{rest}" if sep and given else str(error)) from None
    print(f"run {result.folder} {result.status}: {result.summary}")
    for name, value in result.best_values.items():
        print(f"  {name} = {value!r:.300}")
    if not args.no_report:
        from .report import write_report

        print(f"report: {write_report(result.folder)}")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("run", help="run a task file (or resume one of its runs)")
    p.add_argument("task", metavar="TASK.yaml")
    p.add_argument("--resume", metavar="RUN", help="a run folder (or its name) to continue")
    p.add_argument("--llm", metavar="SPEC",
                   help='the optimizer\'s model: "local", "openai:gpt-4o-mini", ...; also the '
                   "workflow's model (its `llm` argument) unless --workflow-llm or the task "
                   "file's workflow_llm names another")
    p.add_argument("--workflow-llm", metavar="SPEC",
                   help="the model the workflow gets as its `llm` argument (default: the "
                   "task's workflow_llm, else the optimizer's model)")
    p.add_argument("--steps", type=_positive, metavar="N",
                   help="steps (evaluations for the evolution optimizer)")
    p.add_argument("--store", metavar="DIR", help="where runs are stored (default: the task's)")
    p.add_argument("--cassette", metavar="FILE",
                   help="record the LLM calls to FILE, or replay them from it")
    p.add_argument("--cassette-mode", choices=("record", "replay", "auto"), default=None,
                   help="replay: only recorded calls (offline); auto (default): replay, record "
                   "new ones")
    p.add_argument("--max-concurrency", type=int, metavar="N", default=None,
                   help="examples of a step evaluated at once (default: the task's, else 1)")
    p.add_argument("--executor", metavar="WHERE", default=None,
                   help='"local" (default), "ray" (a local Ray cluster) or "ray://HOST:PORT"')
    p.add_argument("--allow-changed-task", action="store_true",
                   help="with --resume: continue although the task file changed since the run began")
    p.add_argument("--no-report", action="store_true",
                   help="do not write RUN/report.html at the end")
    p.set_defaults(handler=run)
