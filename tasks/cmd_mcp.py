"""`optograph mcp`: serve optograph's tools over MCP on stdio (for other LLM applications)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def mcp(args: argparse.Namespace) -> int:
    import os

    import anyio

    from .agent_tools import optograph_tools
    from .errors import TaskError
    from .mcp_server import serve_stdio

    root = Path(args.root).resolve()
    if not root.is_dir():
        raise TaskError(f"--root {args.root}: not a folder")
    os.chdir(root)  # relative paths (and the tools' defaults) are inside the served folder
    tools = optograph_tools(include_diffusion=not args.no_diffusion, root=root)
    anyio.run(serve_stdio, tools, root)
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("mcp", help="serve optograph's tools over MCP (stdio)")
    p.add_argument("--no-diffusion", action="store_true", help="leave out the diffusion tools")
    p.add_argument("--root", default=".", metavar="DIR",
                   help="the folder the server works in; paths outside it are refused "
                        "(default: the current folder)")
    p.set_defaults(handler=mcp)
