"""LLM-guided evolution against plain evolution on the shipped digits model, the same number of
evaluations (evaluator calls that really sample) and the same seed for both.

    python benchmarks/llm_guided.py                          # embedded SmolLM2, seeds 0 1 2
    python benchmarks/llm_guided.py --llm openai:gpt-4o-mini --seeds 0

Guided: OptoPrime reads the traced evaluation and its FID feedback for --rounds rounds, and its
proposals are the first candidates of the evolutionary population; the search's evaluations
include those rounds. Plain: the same search without them. Prints each seed's best FID and
the ratio guided / plain (below 1: the LLM helped)."""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time

from optograph.tools.diffusion.evaluator import build_evaluator
from optograph.tools.diffusion.llm_guided import compare_guided
from optograph.tools.diffusion.sampler import SOLVERS
from optograph.tools.diffusion.session import SessionConfig


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", default="local", help="model spec (default: the embedded SmolLM2)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--solver", default="ddim", choices=SOLVERS)
    parser.add_argument("--evaluations", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=8, help="OptoPrime rounds (default 8)")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--cache", default=None, help="reference statistics cache folder")
    args = parser.parse_args()

    evaluator = build_evaluator("digits", "digits", args.solver, None, args.images, 0,
                                cache_dir=args.cache)
    print(f"{args.steps} steps, {args.solver}, {args.evaluations} evaluations, "
          f"{args.rounds} LLM rounds, {args.images} images, llm {args.llm}")
    print(f"{'seed':>4} {'plain':>8} {'guided':>8} {'ratio':>6} {'LLM best':>9} {'seconds':>8}"
          "  guided best schedule")
    ratios = []
    for seed in args.seeds:
        config = SessionConfig(steps=args.steps, evaluations=args.evaluations, seed=seed,
                               solver=args.solver, images=args.images, validate_top=0)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="optograph-guided-") as folder:
            result = compare_guided(evaluator, config, args.llm, args.rounds, folder)
        assert result.plain_calls == result.guided_calls, "unequal evaluation counts"
        ratio = result.guided_fid / result.plain_fid
        ratios.append(ratio)
        llm_best = min(result.llm_fids) if result.llm_fids else math.nan
        print(f"{seed:>4} {result.plain_fid:8.3f} {result.guided_fid:8.3f} {ratio:6.2f} "
              f"{llm_best:9.3f} {time.perf_counter() - started:8.0f}  "
              f"{list(result.guided_best.timesteps)}", flush=True)
    geometric = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    print(f"guided / plain, geometric mean over {len(ratios)} seeds: {geometric:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
