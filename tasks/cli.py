"""The `optograph` command. Each command group lives in its own module with a
`register(subparsers)` function; this file only builds the parser and turns every error made
on purpose (bad input of any kind) into one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

import optograph
from optograph.graph.errors import OptographError


class UsageError(Exception):
    """Bad input on the command line: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # one line, exit status 2, like every other bad input
        self.exit(2, f"{self.prog}: error: {message}\n")


# command modules, in the order their commands are listed in --help
_COMMAND_MODULES = (
    "optograph.tasks.cmd_task",
    "optograph.tasks.cmd_run",
    "optograph.tasks.cmd_runs",
    "optograph.tasks.cmd_report",
    "optograph.tasks.cmd_chat",
    "optograph.tasks.cmd_mcp",
)
# optional groups: registered when their module is installed (the diffusion extra)
_OPTIONAL_MODULES = ("optograph.tasks.diffusion_commands",)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="optograph",
        description="Optimize workflows from feedback: trace, feed back, propose.",
    )
    parser.add_argument("--version", action="version", version=f"optograph {optograph.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    for name in _OPTIONAL_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue  # the group's extra is not installed; its commands are absent
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        return int(args.handler(args) or 0)
    except (UsageError, OptographError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"optograph: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("optograph: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `optograph schema | head`: the reader left; not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
