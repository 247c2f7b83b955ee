"""MCP progress: a tool's progress events reach the client as notifications/progress when it
passes a progressToken (in-process server, the SDK's own client)."""

from __future__ import annotations

from typing import Any

import anyio
from langchain_core.callbacks.manager import dispatch_custom_event
from langchain_core.tools import BaseTool
from mcp.client.client import Client

from optograph.tasks.mcp_server import build_server


class CountingTool(BaseTool):
    """Counts to `n`, reporting each step as the diffusion search does."""

    name: str = "count"
    description: str = "count to n"

    def _run(self, n: int = 3, **_: Any) -> dict[str, Any]:
        for index in range(1, n + 1):
            dispatch_custom_event("progress", {"index": index, "total": n,
                                               "message": f"step {index} of {n}"})
        return {"counted": n}


async def _call(with_progress: bool) -> tuple[Any, list[tuple[float, float | None, str | None]]]:
    seen: list[tuple[float, float | None, str | None]] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        seen.append((value, total, message))

    async with Client(build_server([CountingTool()])) as client:
        result = await client.call_tool("count", {"n": 3},
                                        progress_callback=progress if with_progress else None)
    return result, seen


def test_progress_notifications_reach_a_client_that_asks() -> None:
    result, seen = anyio.run(_call, True)
    assert not result.is_error
    assert seen == [(1.0, 3.0, "step 1 of 3"), (2.0, 3.0, "step 2 of 3"), (3.0, 3.0, "step 3 of 3")]
    result, seen = anyio.run(_call, False)
    assert not result.is_error and seen == []
