"""`optograph chat [--llm SPEC]`: a terminal chat with an agent whose tools are optograph's."""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path
from typing import Any

from .errors import TaskError


def _model(spec: str | None) -> Any:
    from .llm_setup import chat_model_from_spec

    model = chat_model_from_spec(spec, Path.cwd(), "--llm")
    if isinstance(model, str) or model is None:
        from optograph.agent.llm import get_chat_model

        try:
            model = get_chat_model(model)
        except Exception as exc:
            raise TaskError(f"--llm {spec!r}: {exc}") from None
    return model


def chat(args: argparse.Namespace) -> int:
    from .agent_tools import optograph_tools
    from .chat import build_chat_agent, chat_turn

    model = _model(args.llm)
    tools = optograph_tools(include_diffusion=not args.no_diffusion)
    agent = build_chat_agent(model, tools)
    thread = uuid.uuid4().hex
    interactive = sys.stdin.isatty()
    if interactive:
        print(f"optograph chat ({len(tools)} tools: {', '.join(t.name for t in tools)}). "
              "Empty line or Ctrl-D to quit.")
    while True:
        if interactive:
            sys.stdout.write("you> ")
            sys.stdout.flush()
        line = sys.stdin.readline()
        if not line or not line.strip():
            return 0
        answer = chat_turn(agent, line.strip(), thread, sys.stdout)
        print(f"optograph> {answer}")
        sys.stdout.flush()


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("chat", help="chat with an agent that uses optograph's tools")
    p.add_argument("--llm", metavar="SPEC", help='the chat model (default: the local model)')
    p.add_argument("--no-diffusion", action="store_true", help="leave out the diffusion tools")
    p.set_defaults(handler=chat)
