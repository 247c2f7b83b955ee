"""`optograph mcp`: an MCP server (official Python SDK, lowlevel Server, stdio transport)
exposing optograph's tools: each LangChain tool's pydantic schema is its MCP input schema,
and its JSON result is the MCP text content (flagged `is_error` when it reports an error).

The server works inside one root folder: every path argument (and the `python:`/`local:`
file of an `llm` argument) must lie inside it. A message the SDK cannot parse as JSON-RPC
(`params` as a list, ...) is answered with a JSON-RPC error instead of being dropped."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import anyio
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, ToolException
from pydantic import ValidationError

import optograph
from optograph.graph.errors import OptographError

from .paths import confine
from .references import reference_file

# arguments of the tools that name files or folders (a run may be a name in the store: a
# name stays inside root, `..` or an absolute path elsewhere does not)
PATH_ARGUMENTS = ("path", "folder", "store", "run", "resume", "out", "cache")
_FILE_SPECS = ("python:", "local:")


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


def check_arguments(arguments: dict[str, Any], root: Path) -> None:
    """TaskError when a path argument (or the file of an `llm` spec) leads outside root."""
    for name in PATH_ARGUMENTS:
        value = arguments.get(name)
        if isinstance(value, str) and value:
            confine(value, root, f"argument {name}")
    llm = arguments.get("llm")
    if isinstance(llm, str):
        for prefix in _FILE_SPECS:
            if llm.startswith(prefix):
                rest = llm[len(prefix):]
                file = reference_file(rest, root) if prefix == "python:" else Path(rest)
                if file is not None:
                    confine(file, root, "argument llm")


def _error_result(types: Any, text: str) -> Any:
    return types.CallToolResult(content=[types.TextContent(text=json.dumps({"error": text}))],
                                is_error=True)




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


def build_server(tools: Sequence[BaseTool], root: Path | None = None) -> Any:
    import mcp_types as types
    from mcp.server.lowlevel import Server

    root = (root or Path.cwd()).resolve()
    # errors must reach the client as errors: the tools' own "return the message as the
    # result" handling (meant for chat agents) is turned off on the server's copies
    tools = [t.model_copy(update={"handle_tool_error": False, "handle_validation_error": False})
             for t in tools]
    by_name = {tool.name: tool for tool in tools}

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[
            types.Tool(name=t.name, description=t.description, input_schema=_input_schema(t))
            for t in tools
        ])

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        tool = by_name.get(params.name)
        if tool is None:
            return _error_result(types, f"unknown tool {params.name!r}; known: {sorted(by_name)}")
        arguments = dict(params.arguments or {})
        config: RunnableConfig = {"callbacks": _progress_callbacks(ctx)}
        try:
            check_arguments(arguments, root)
            # tools block (a run takes a while): keep the server's event loop responsive
            result = await anyio.to_thread.run_sync(partial(tool.invoke, arguments, config))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            return _error_result(types, f"{params.name}: argument {where}: {first['msg']}")
        except (ToolException, OptographError) as exc:
            return _error_result(types, f"{params.name}: {_first_line(exc)}")
        except Exception as exc:  # a tool bug must not end the session
            return _error_result(types, f"{params.name}: {type(exc).__name__}: {_first_line(exc)}")
        text = result if isinstance(result, str) else json.dumps(result, default=repr)
        return types.CallToolResult(content=[types.TextContent(text=text)],
                                    is_error=_is_error(text))

    return Server("optograph", version=optograph.__version__,
                  on_list_tools=list_tools, on_call_tool=call_tool)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def invalid_message_reply(error: Exception) -> Any:
    """The JSON-RPC error answering a line the SDK could not parse as a message (it would
    drop it, leaving the client waiting): -32602 for a request with an id whose params are
    not an object, -32600 for another request with an id; None when there is no id to
    answer (a notification, or not JSON at all)."""
    import mcp_types as types

    if not isinstance(error, ValidationError):
        return None
    for detail in error.errors():
        message = detail.get("input")
        if isinstance(message, dict) and isinstance(message.get("id"), int | str) \
                and isinstance(message.get("method"), str):
            params = message.get("params")
            bad_params = "params" in message and not isinstance(params, dict)
            code = types.INVALID_PARAMS if bad_params else types.INVALID_REQUEST
            text = (f"{message['method']}: params must be an object, not "
                    f"{type(params).__name__}" if bad_params else "invalid request")
            return types.JSONRPCError(jsonrpc="2.0", id=message["id"],
                                      error=types.ErrorData(code=code, message=text))
    return None


async def serve_stdio(tools: Sequence[BaseTool], root: Path | None = None) -> None:
    from mcp.server.stdio import stdio_server
    from mcp.shared.message import SessionMessage

    server = build_server(tools, root)
    async with stdio_server() as (read_stream, write_stream):
        relay_send, relay_receive = anyio.create_memory_object_stream[Any](0)

        async def relay() -> None:
            async with relay_send:
                async for item in read_stream:
                    reply = invalid_message_reply(item) if isinstance(item, Exception) else None
                    if reply is not None:
                        await write_stream.send(SessionMessage(reply))
                    else:
                        await relay_send.send(item)

        async with anyio.create_task_group() as group:
            group.start_soon(relay)
            await server.run(relay_receive, write_stream, server.create_initialization_options())
            group.cancel_scope.cancel()
