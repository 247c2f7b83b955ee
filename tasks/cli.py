"""The `optograph` command. Subcommands register themselves in `build_parser`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import optograph


class UsageError(Exception):
    """Bad input on the command line: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # one line, exit status 2, like every other bad input
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="optograph",
        description="Optimize workflows from feedback: trace, feed back, propose.",
    )
    parser.add_argument("--version", action="version", version=f"optograph {optograph.__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        return int(args.handler(args) or 0)
    except UsageError as exc:
        print(f"optograph: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
