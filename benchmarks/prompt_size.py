"""Prompt size of optograph's OptoPrime against trace-opt's OptoPrime, for the same graphs and
the same feedback. No LLM is called: both prompts are built and measured.

    python benchmarks/prompt_size.py

Tokens are counted with tiktoken's cl100k_base when it is installed, else estimated as
words plus punctuation marks (close to BPE counts for code and English). Ratios below 1 mean
optograph's prompt is smaller."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

# trace-opt imports LiteLLM, which otherwise tries to download a price table at import
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import optograph as og  # noqa: E402
from optograph.agent import OptoPrime  # noqa: E402
from optograph.agent.llm import LLM  # noqa: E402


# -- the workflows, written once as plain functions and bundled by each library ---------------
def blackbox(x: float) -> float:
    return -x * 2


def bar(x: float) -> float:
    "This is a test function, which does negative scaling."
    return blackbox(x)


def scale(v: float, k: float) -> float:
    """Multiply v by k."""
    return v * k


def shift(v: float, offsets: list[int]) -> float:
    """Add the sum of offsets to v."""
    return v + sum(offsets)


def strange_sort_list(lst: list[int]) -> list[int]:
    """Return the list in strange order: the minimum, then the maximum of the rest, then the
    minimum of the rest, and so on."""
    return sorted(lst)


def tutorial(lib: Any, bundle: Callable[..., Any]) -> tuple[list[Any], Any, str]:
    x = lib.node(-1.0, trainable=True, name="x")
    b = bundle()(bar)
    y = b(x)
    out = y * (y + 1)
    return [x], out, "The number needs to be larger."


def two_params(lib: Any, bundle: Callable[..., Any]) -> tuple[list[Any], Any, str]:
    a = lib.node(2.0, trainable=True, name="a", description="the slope")
    offsets = lib.node([1, 2], trainable=True, name="b")
    x = lib.node(3, name="x")
    out = bundle()(shift)(bundle()(scale)(x, a), offsets)
    return [a, offsets], out, "y should be 20"


def code_fix(lib: Any, bundle: Callable[..., Any]) -> tuple[list[Any], Any, str]:
    fn = bundle(trainable=True)(strange_sort_list)
    out = fn(lib.node([1, 2, 3, 4], name="lst"))
    params = [fn.code] if hasattr(fn, "code") and fn.code is not None else list(fn.parameters())
    return params, out, "strange_sort_list([1, 2, 3, 4]) returned [1, 2, 3, 4], expected [1, 4, 2, 3]"


def chain_of_20(lib: Any, bundle: Callable[..., Any]) -> tuple[list[Any], Any, str]:
    params = [lib.node(float(i + 1), trainable=True, name=f"w{i}") for i in range(3)]
    y = lib.node(0.5, name="start")
    for i in range(20):
        y = y * params[i % 3] + 1 if i % 2 else y + params[i % 3]
    return params, y, f"the output should be 100 (it is {_data(y):.4g})"


GRAPHS = {
    "Trace tutorial (numeric)": tutorial,
    "two parameters + input": two_params,
    "code parameter": code_fix,
    "chain of 20 operations": chain_of_20,
}


def _data(n: Any) -> Any:
    return n.data


# -- building each prompt ----------------------------------------------------------------------
def optograph_prompt(build: Callable[..., Any]) -> str:
    with og.Run():
        params, out, feedback = build(og, og.bundle)
        out.backward(feedback)
        opt = OptoPrime(params, llm=LLM("local"))  # the model is built only when called
        system, user = opt.messages()
    return f"{system.content}\n{user.content}"


def trace_prompt(build: Callable[..., Any]) -> str:
    import opto.trace as trace
    from opto.optimizers import OptoPrime as TraceOptoPrime

    params, out, feedback = build(trace, trace.bundle)
    opt = TraceOptoPrime(params, llm=object())  # never called: only the prompt is built
    opt.zero_feedback()
    opt.backward(out, feedback)
    system, user = opt.construct_prompt(opt.summarize())
    return f"{system}\n{user}"


def token_counter() -> tuple[str, Callable[[str], int]]:
    try:
        import tiktoken

        encoding = tiktoken.get_encoding("cl100k_base")  # needs its file cached or the network
        return "tiktoken cl100k_base", lambda text: len(encoding.encode(text))
    except Exception:
        return "words + punctuation (estimate)", lambda text: len(re.findall(r"\w+|[^\w\s]", text))


def main() -> None:
    try:
        import opto  # noqa: F401
    except ImportError:
        raise SystemExit("trace-opt is not installed: pip install trace-opt") from None
    counter_name, count_tokens = token_counter()
    print(f"prompt tokens (system + user), counted with {counter_name}")
    print(f"{'graph':28} {'optograph':>10} {'trace-opt':>10} {'ratio':>7}")
    ratios = []
    for name, build in GRAPHS.items():
        ours, theirs = count_tokens(optograph_prompt(build)), count_tokens(trace_prompt(build))
        ratios.append(ours / theirs)
        print(f"{name:28} {ours:10d} {theirs:10d} {ours / theirs:7.2f}")
    geo = 1.0
    for r in ratios:
        geo *= r
    print(f"{'geometric mean ratio':28} {'':10} {'':10} {geo ** (1 / len(ratios)):7.2f}")


if __name__ == "__main__":
    main()
