"""`optograph validate TASK.yaml...` and `optograph schema`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from optograph.graph.errors import OptographError

from .preflight import preflight
from .prepare import prepare_task
from .runner import RunOptions, task_llms
from .task_file import load_task, task_json_schema


def validate(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.tasks:
        try:
            prepared = prepare_task(load_task(path))
            preflight(prepared, task_llms(prepared.task, RunOptions()))
        except OptographError as exc:
            print(f"optograph: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        spec = prepared.task.spec
        trainable = [n for n, p in spec.parameters.items() if p.trainable]
        data = f", {len(prepared.examples)} examples" if prepared.examples is not None else ""
        print(f"{path}: ok (task {spec.name!r}, optimizer {spec.optimizer.name}, "
              f"parameters {', '.join(trainable)}{data})")
    return 2 if failed else 0


def schema(args: argparse.Namespace) -> int:
    print(json.dumps(task_json_schema(), indent=2))
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("validate", help="check task files without running them")
    p.add_argument("tasks", nargs="+", metavar="TASK.yaml")
    p.set_defaults(handler=validate)
    p = subparsers.add_parser("schema", help="print the JSON Schema of task files")
    p.set_defaults(handler=schema)
