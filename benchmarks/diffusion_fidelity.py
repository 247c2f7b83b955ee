"""Multi-fidelity against fixed-fidelity search at an equal image budget, on the shipped digits
model, and the searched schedule against the best diffusers built-in at the same steps.

    nice -n 10 python benchmarks/diffusion_fidelity.py --steps 4 --seeds 0 1 2
    python benchmarks/diffusion_fidelity.py --steps 4 6 10 --fidelities 128,512,2048 \\
        --evaluations 40 --judge-images 2048      # the issue's sizes (a GPU, or hours of CPU)

Both searches get `--evaluations` evaluations' worth of images at the highest fidelity (fixed:
every candidate on all of them; multi: successive halving over --fidelities). Each answer and
every built-in schedule is then judged on a noise bank neither search saw (--judge-images
images, noise seed 10007 + seed). Prints, per steps and seed, the judged FIDs, the ratios
multi / fixed (at most 1: the target) and searched / best built-in, and the wall time of
each search."""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from optograph.tools.diffusion.baselines import BASELINE_METHODS
from optograph.tools.diffusion.evaluator import ScheduleEvaluator, build_evaluator
from optograph.tools.diffusion.noise import NoiseBank
from optograph.tools.diffusion.search import SearchConfig, run_search
from optograph.tools.diffusion.store import SearchStore

JUDGE_SEED = 10_007


def search(evaluator: ScheduleEvaluator, steps: int, seed: int, evaluations: int,
           fidelities: tuple[int, ...] | None, folder: Path) -> tuple[object, float]:
    config = SearchConfig(steps=steps, evaluations=evaluations, population=20, top_k=5,
                          mutants=8, crossovers=4, seed=seed, fidelities=fidelities)
    store = SearchStore(folder / "search.sqlite", {"fidelities": list(fidelities or [])})
    started = time.perf_counter()
    try:
        found = run_search(evaluator, config, store, validator=evaluator.validation_evaluator())
    finally:
        store.close()
    return found, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[4])
    parser.add_argument("--solver", default="dpmpp2m", choices=["ddim", "dpmpp2m"])
    parser.add_argument("--fidelities", default="64,256")
    parser.add_argument("--evaluations", type=int, default=12,
                        help="the budget: evaluations at the highest fidelity (default 12)")
    parser.add_argument("--judge-images", type=int, default=512)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--methods", default=",".join(BASELINE_METHODS),
                        help="built-in methods to judge (default: all)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--cache", default=None, help="reference statistics cache folder")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    fidelities = tuple(int(x) for x in args.fidelities.split(","))
    evaluator = build_evaluator("digits", "digits", args.solver, None, fidelities[-1], 0,
                                cache_dir=args.cache)
    print(f"{args.solver}, budget {args.evaluations} x {fidelities[-1]} images, fidelities "
          f"{list(fidelities)}, judged on {args.judge_images} fresh images", flush=True)
    for steps in args.steps:
        for seed in args.seeds:
            searcher = dataclasses.replace(
                evaluator, noise=NoiseBank.for_model(evaluator.model, fidelities[-1], seed=seed))
            judge = dataclasses.replace(evaluator, noise=NoiseBank.for_model(
                evaluator.model, args.judge_images, seed=JUDGE_SEED + seed))
            built_in = {m: judge.baseline(m, steps).fid for m in args.methods.split(",")}
            best_method = min(built_in, key=lambda m: built_in[m])
            judged = {}
            with tempfile.TemporaryDirectory() as folder:
                for name, ladder in (("fixed", None), ("multi", fidelities)):
                    found, seconds = search(searcher, steps, seed, args.evaluations, ladder,
                                            Path(folder) / name)
                    judged[name] = judge(found.best.schedule).fid  # type: ignore[attr-defined]
                    print(f"{steps} steps seed {seed} {name:<5}: judged FID {judged[name]:7.3f} "
                          f"(search {found.best.fid:.3f} on {found.best.images} images, "  # type: ignore[attr-defined]
                          f"{len(found.history)} evaluations, {found.images} images, "  # type: ignore[attr-defined]
                          f"{seconds:.0f} s) t={list(found.best.schedule.timesteps)}",  # type: ignore[attr-defined]
                          flush=True)
            print(f"{steps} steps seed {seed}: multi/fixed {judged['multi'] / judged['fixed']:.2f}x; "
                  f"best built-in {best_method} {built_in[best_method]:.3f}; searched/built-in "
                  f"fixed {judged['fixed'] / built_in[best_method]:.2f}x, multi "
                  f"{judged['multi'] / built_in[best_method]:.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
