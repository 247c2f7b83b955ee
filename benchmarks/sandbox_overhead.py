"""Time per call of a rewritten bundle in each sandbox mode, against the process mode measured
in the same run (docs/sandbox.md, "Cost").

    python benchmarks/sandbox_overhead.py [calls]
"""

from __future__ import annotations

import sys
import time
import warnings

import optograph as og
from optograph.graph.sandbox import bwrap_problem


def square(n):
    """Square n."""
    return n * n


def per_call(mode: str, calls: int) -> float:
    fn = og.bundle(trainable=True, sandbox=mode)(square)
    fn.code.set("def square(n):\n    return n ** 2\n")
    with og.no_trace():
        fn(1)  # warm the file cache
        started = time.perf_counter()
        for i in range(calls):
            assert fn(i) == i * i
    return (time.perf_counter() - started) / calls


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    warnings.simplefilter("ignore")
    process = per_call("process", calls)
    print(f"inline   {per_call('inline', calls) * 1000:8.2f} ms/call")
    print(f"process  {process * 1000:8.2f} ms/call  (1.00x)")
    problem = bwrap_problem()
    if problem:
        print(f"bwrap    skipped: {problem}")
    else:
        bwrap = per_call("bwrap", calls)
        print(f"bwrap    {bwrap * 1000:8.2f} ms/call  ({bwrap / process:.2f}x process)")


if __name__ == "__main__":
    main()
