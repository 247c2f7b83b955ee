"""`optograph runs [--store DIR]` and `optograph show RUN [--json]`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from optograph.graph.errors import OptographError

from .run_store import find_run, list_runs
from .run_view import RunView, dumps


def runs(args: argparse.Namespace) -> int:
    store = Path(args.store)
    found = list(list_runs(store))
    if not found:
        print(f"no runs in {store}/")
        return 0
    print(f"{'RUN':<40} {'TASK':<20} {'STATUS':<12} {'STEPS':>5} {'BEST':>10}  CREATED")
    for folder in found:
        try:
            print(RunView.load(folder).summary_line())
        except OptographError as exc:  # a damaged folder is listed, not fatal
            print(f"{folder.name:<40} (unreadable: {exc})")
    return 0


def _sparkline(scores: list[float | None]) -> str:
    numbers = [s for s in scores if s is not None]
    if not numbers:
        return ""
    low, high = min(numbers), max(numbers)
    ticks = "▁▂▃▄▅▆▇█"
    return "".join(
        " " if s is None else ticks[int((s - low) / (high - low) * 7) if high > low else 3]
        for s in scores
    )


def show(args: argparse.Namespace) -> int:
    view = RunView.load(find_run(args.run, Path(args.store)))
    if args.json:
        print(dumps(view.to_dict()))
        return 0
    score, values = view.best()
    totals = view.totals()
    print(f"run {view.folder}  task {view.meta.get('task_name')}  status {view.status}")
    print(f"steps {len(view.steps)}  tokens {totals['tokens']}  cost ${totals['cost']:.4f}  "
          f"LLM calls {totals['llm_calls']}")
    print(f"best score {view.describe(score)}; best parameters:")
    for name, value in values.items():
        print(f"  {name} = {value!r:.500}")
    print(f"score history {_sparkline([r.score for r in view.steps])}")
    for record in view.steps:
        shown = "-" if record.score is None else f"{record.score:.6g}"
        note = f"  ({record.note})" if record.note else ""
        print(f"  step {record.step + 1:>4}  score {shown:>10}{note}")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("runs", help="list stored runs")
    p.add_argument("--store", default="runs", metavar="DIR", help="the run store (default: runs)")
    p.set_defaults(handler=runs)
    p = subparsers.add_parser("show", help="best parameters and score history of a run")
    p.add_argument("run", metavar="RUN", help="a run folder, or its name in the store")
    p.add_argument("--store", default="runs", metavar="DIR")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=show)
