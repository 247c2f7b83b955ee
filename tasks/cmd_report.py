"""`optograph report RUN [--out FILE]`: write the run's HTML report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .paths import check_output_file
from .report import write_report
from .run_store import find_run


def report(args: argparse.Namespace) -> int:
    if args.out is not None:
        check_output_file(Path(args.out), "--out")
    path = write_report(find_run(args.run, Path(args.store)), args.out)
    print(f"report written to {path}")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("report", help="write the HTML report of a run")
    p.add_argument("run", metavar="RUN", help="a run folder, or its name in the store")
    p.add_argument("--store", default="runs", metavar="DIR")
    p.add_argument("--out", metavar="FILE", help="where to write (default: RUN/report.html)")
    p.set_defaults(handler=report)
