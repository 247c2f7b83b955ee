"""`optograph mcp`: an MCP server (official Python SDK, lowlevel Server, stdio transport)
exposing optograph's tools: each LangChain tool's pydantic schema is its MCP input schema,
and its JSON result is the MCP text content (flagged `is_error` when it reports an error)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import anyio
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.tools import BaseTool
from pydantic import ValidationError

import optograph


def _input_schema(tool: BaseTool) -> dict[str, Any]:
    schema: dict[str, Any] = tool.get_input_schema().model_json_schema()  # type: ignore[union-attr]
    return {"type": "object", "properties": schema.get("properties", {}),
            "required": schema.get("required", []), **({"$defs": schema["$defs"]}
                                                       if "$defs" in schema else {})}


def _is_error(text: str) -> bool:
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and ("error" in data or data.get("valid") is False)


class _ProgressForwarder(BaseCallbackHandler):
    """A tool's progress, as LangChain custom events carrying `index` and `total` (the
    diffusion search sends one per evaluation), forwarded to the MCP client as
    notifications/progress against the progressToken of its request."""

    def __init__(self, send: Callable[[float, float, str], None]) -> None:
        self.send = send

    def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        if isinstance(data, dict) and all(
                isinstance(data.get(k), (int, float)) for k in ("index", "total")):
            self.send(float(data["index"]), float(data["total"]), str(data.get("message") or name))


def _progress_callbacks(ctx: Any) -> list[BaseCallbackHandler]:
    """A forwarder to the request's progress (a no-op unless the client sent a progressToken)."""
    report = getattr(getattr(ctx, "session", None), "report_progress", None)
    if report is None:
        return []

    def send(progress: float, total: float, message: str) -> None:  # on the tool's thread
        anyio.from_thread.run(partial(report, progress, total, message))

    return [_ProgressForwarder(send)]


def build_server(tools: Sequence[BaseTool]) -> Any:
    import mcp_types as types
    from mcp.server.lowlevel import Server

    by_name = {tool.name: tool for tool in tools}

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[
            types.Tool(name=t.name, description=t.description, input_schema=_input_schema(t))
            for t in tools
        ])

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        tool = by_name.get(params.name)
        if tool is None:
            text = json.dumps({"error": f"unknown tool {params.name!r}; known: {sorted(by_name)}"})
            return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True)
        config = {"callbacks": _progress_callbacks(ctx)}
        try:
            # tools block (a run takes a while): keep the server's event loop responsive
            result = await anyio.to_thread.run_sync(
                partial(tool.invoke, dict(params.arguments or {}), config))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            text = json.dumps({"error": f"{params.name}: argument {where}: {first['msg']}"})
            return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True)
        except Exception as exc:  # a tool bug must not end the session
            text = json.dumps({"error": f"{params.name}: {type(exc).__name__}: {exc}"})
            return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True)
        text = result if isinstance(result, str) else json.dumps(result, default=repr)
        return types.CallToolResult(content=[types.TextContent(text=text)],
                                    is_error=_is_error(text))

    return Server("optograph", version=optograph.__version__,
                  on_list_tools=list_tools, on_call_tool=call_tool)


async def serve_stdio(tools: Sequence[BaseTool]) -> None:
    from mcp.server.stdio import stdio_server

    server = build_server(tools)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())
