"""`optograph mcp`: serve optograph's tools over MCP on stdio (for other LLM applications)."""

from __future__ import annotations

import argparse
from typing import Any


def mcp(args: argparse.Namespace) -> int:
    import anyio

    from .agent_tools import optograph_tools
    from .mcp_server import serve_stdio

    tools = optograph_tools(include_diffusion=not args.no_diffusion)
    anyio.run(serve_stdio, tools)
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("mcp", help="serve optograph's tools over MCP (stdio)")
    p.add_argument("--no-diffusion", action="store_true", help="leave out the diffusion tools")
    p.set_defaults(handler=mcp)
