"""The engine side by side with trace-opt (microsoft/Trace) in the same run.

For each workflow shape (a chain, a wide fan-in tree, a random DAG) of N operations over a few
parameters, time trace + backward + summary with both libraries, then the growth of optograph's
time up to 100,000 operations, then memory over 1,000 repeated iterations. Prints the ratios.

    python benchmarks/engine_vs_trace.py            # full run (trace-opt at 3,000 takes minutes)
    python benchmarks/engine_vs_trace.py --quick    # N up to 1,000, 200 iterations
    python benchmarks/engine_vs_trace.py --growth   # only the growth up to 100,000

The growth section runs in a fresh process: importing trace-opt (and LiteLLM) leaves some
400,000 objects that CPython's cyclic gc would rescan during every full collection, which
says nothing about optograph. It also prints the time with gc off, to show gc's share, and the
growth of a minimal tracer of plain objects (PlainNode) timed the same way: what this machine
makes of a graph of N small Python objects, beside which optograph's growth can be judged.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import math
import os
import random
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import optograph as og

# trace-opt imports LiteLLM, which otherwise tries to download a price table at import
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

Shape = Callable[[Any, list[Any], int, random.Random], Any]


def chain(lib: Any, params: list[Any], n: int, rng: random.Random) -> Any:
    y = params[0]
    for i in range(n):
        y = y + params[(i + 1) % len(params)]  # never the same node twice in one op (trace-opt asserts)
    return y


def fan_in(lib: Any, params: list[Any], n: int, rng: random.Random) -> Any:
    # n // 2 leaves, then a balanced tree of additions: n operations in all
    level = [params[i % len(params)] * (i + 1) for i in range(max(n // 2, 1))]
    while len(level) > 1:
        level = [level[i] + level[i + 1] if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
    return level[0]


def random_dag(lib: Any, params: list[Any], n: int, rng: random.Random) -> Any:
    pool = list(params)
    for _ in range(n):
        a, b = rng.choice(pool[-50:]), rng.choice(pool)  # mostly local, some long edges
        pool.append(a + b if a is not b else a * 2)
    return pool[-1]


SHAPES: dict[str, Shape] = {"chain": chain, "fan-in": fan_in, "random DAG": random_dag}


def optograph_once(shape: Shape, n: int) -> float:
    start = time.perf_counter()
    with og.Run():
        params = [og.node(1.0, trainable=True, name=f"p{i}") for i in range(4)]
        out = shape(og, params, n, random.Random(0))
        out.backward("make it smaller")
        og.summarize(params)
        for node in (*params, out):  # as an optimizer's step does: the graph is freed at once
            node.zero_feedback()
    return time.perf_counter() - start


def trace_once(shape: Shape, n: int) -> float:
    from opto import trace
    from opto.optimizers import OptoPrime

    start = time.perf_counter()
    params = [trace.node(1.0, trainable=True, name=f"p{i}") for i in range(4)]
    opt = OptoPrime(params, llm=object())  # the LLM is never called: only the summary is built
    out = shape(trace, params, n, random.Random(0))
    opt.zero_feedback()
    out.backward("make it smaller")
    opt.summarize()
    return time.perf_counter() - start


def memory_growth(once: Callable[[], None], iterations: int) -> tuple[float, float]:
    """Traced memory (MiB) after the first 10 iterations and after all of them."""
    gc.collect()
    tracemalloc.start()
    early = 0.0
    for i in range(iterations):
        once()
        if i == 9:
            gc.collect()
            early = tracemalloc.get_traced_memory()[0] / 2**20
    gc.collect()
    late = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    return early, late


GROWTH_SIZES = {1000: 10, 10_000: 2, 100_000: 1}  # N: runs per round
GROWTH_ROUNDS = 6  # the sizes take turns, so a slow spell of the machine hits them all


class PlainNode:
    """The least a Python tracer can do, as a reference for what the machine makes of a graph
    of N small objects: each operation makes an object holding its value and its inputs."""

    __slots__ = ("value", "inputs", "order")
    made = itertools.count()

    def __init__(self, value: Any, inputs: tuple[PlainNode, ...] = ()) -> None:
        self.value, self.inputs, self.order = value, inputs, next(PlainNode.made)

    def __add__(self, other: PlainNode) -> PlainNode:
        return PlainNode(self.value + other.value, (self, other))

    def __mul__(self, k: float) -> PlainNode:
        return PlainNode(self.value * k, (self,))


def plain_graph(shape: Shape, n: int) -> list[PlainNode]:
    """Trace with PlainNode, then collect the output's ancestors and sort them."""
    params = [PlainNode(1.0) for _ in range(4)]
    out = shape(None, params, n, random.Random(0))
    seen = {out}
    stack = [out]
    while stack:
        for parent in stack.pop().inputs:
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return sorted(seen, key=lambda p: p.order)


def plain_once(shape: Shape, n: int) -> float:
    """The plain reference's counterpart of optograph_once: trace, walk, sort, print values."""
    start = time.perf_counter()
    lines = [repr(p.value) for p in plain_graph(shape, n)]
    assert lines
    return time.perf_counter() - start


def timed_growth(once: Callable[[Shape, int], float], shape: Shape) -> dict[int, tuple[float, float]]:
    """The best time at each size, with gc on and with gc off, over interleaved rounds."""
    for _ in range(5):  # warm up (first allocations of the process, caches)
        once(shape, min(GROWTH_SIZES))
    best = {n: (math.inf, math.inf) for n in GROWTH_SIZES}
    for _ in range(GROWTH_ROUNDS):
        for n, runs in GROWTH_SIZES.items():
            on = min(once(shape, n) for _ in range(runs))
            gc.disable()
            try:
                off = min(once(shape, n) for _ in range(runs))
            finally:
                gc.enable()
                gc.collect()  # feedback makes cycles: free the graphs built with gc off
            best[n] = (min(best[n][0], on), min(best[n][1], off))
    return best


def growth() -> None:
    print("growth against N log N (fresh process): time / (N log N), relative to N=1000")
    print("plain objects: a minimal tracer of PlainNode objects, the machine's reference")
    print(f"{'':<20}{'optograph seconds':>20}{'optograph growth':>20}{'plain objects growth':>24}")
    print(f"{'shape':<12}{'N':>8}{'gc on':>10}{'gc off':>10}{'gc on':>10}{'gc off':>10}"
          f"{'gc on':>12}{'gc off':>12}")
    base_n = min(GROWTH_SIZES)
    for name, shape in SHAPES.items():
        ours, plain = timed_growth(optograph_once, shape), timed_growth(plain_once, shape)
        for n in GROWTH_SIZES:
            scale = (n * math.log(n)) / (base_n * math.log(base_n))
            ratios = [t[n][i] / t[base_n][i] / scale for t in (ours, plain) for i in (0, 1)]
            print(f"{name:<12}{n:>8}{ours[n][0]:>10.4f}{ours[n][1]:>10.4f}"
                  f"{ratios[0]:>10.2f}{ratios[1]:>10.2f}{ratios[2]:>12.2f}{ratios[3]:>12.2f}",
                  flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--growth", action="store_true", help="only the growth section")
    args = parser.parse_args()
    if args.growth:
        growth()
        return 0
    sizes = [100, 1000] if args.quick else [100, 1000, 3000]
    iterations = 200 if args.quick else 1000
    sys.setrecursionlimit(100_000)  # trace-opt recurses along the graph

    print("trace + backward + summary, seconds (optograph vs trace-opt, same run)")
    print(f"{'shape':<12}{'N':>8}{'optograph':>12}{'trace-opt':>12}{'speed-up':>10}")
    for name, shape in SHAPES.items():
        for n in sizes:
            # best of several runs for both libraries (timeit's rule: the minimum is the
            # least disturbed by the rest of the machine); trace-opt gets one run when a run
            # takes more than 10 s (its chain at 3,000 takes about 40 s)
            ours = min(optograph_once(shape, n) for _ in range(10))
            theirs = trace_once(shape, n)
            if theirs < 10.0:
                theirs = min(theirs, *(trace_once(shape, n) for _ in range(2)))
            print(f"{name:<12}{n:>8}{ours:>12.4f}{theirs:>12.3f}{theirs / ours:>9.0f}x", flush=True)

    print(flush=True)
    subprocess.run([sys.executable, __file__, "--growth"], check=True)

    print(f"\nmemory over {iterations} iterations of a 30-operation workflow (traced MiB)")

    def ours_iteration() -> None:
        optograph_once(random_dag, 30)

    def trace_iteration() -> None:
        trace_once(random_dag, 30)

    for label, once in (("optograph", ours_iteration), ("trace-opt", trace_iteration)):
        early, late = memory_growth(once, iterations)
        print(f"{label:<12} after 10: {early:8.2f}   after {iterations}: {late:8.2f}   growth x{late / max(early, 1e-9):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
