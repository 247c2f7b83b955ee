"""Issue 16's targets on the shipped digits model, in one run (python benchmarks/diffusion_fidelity.py):

(a) multi-fidelity against today's fixed-fidelity search at an equal image budget, on
    --seeds (at --compare-steps); target: multi <= fixed on every seed;
(b) the searched schedule (multi-fidelity) against the best of diffusers' built-in schedulers
    at each of --steps; targets: 4 steps <= 0.5x, other step counts <= 0.8x (with
    --converged-steps 50, beside it UniPC at 50 steps on the same bank: how far below the best
    built-in the model's own near-converged sampling lies);
(c) the wall time of every search;
(d) with --macs-budget SHARE (e.g. 0.8): a search under SHARE x the full network's MACs at
    --macs-steps (skip sets at those steps, and the fewer full-network steps the budget pays
    for: the search's default) against the best built-in at full MACs; target <= 1.0x.
    With --macs-exact, beside it the paper's search: exactly --macs-steps steps, skip sets
    only (--exact-steps), for reference.

Every search is one search session (tools/diffusion/session.py, the CLI's defaults: population
20, validation of the best 5 on other noise) on the noise of its seed; its answer and every
built-in schedule are then judged on a noise bank no search saw (--judge-images images, noise
seed 10007 + seed), the protocol of the README's tables. Both searches of (a) get --evaluations
evaluations' worth of images at the highest fidelity (fixed: every candidate on all of them).

    python benchmarks/diffusion_fidelity.py --device cuda --json fidelity.json   # ~3 min, H200
    nice -n 10 python benchmarks/diffusion_fidelity.py --quick                # < 3 min, 2 cores
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from optograph.tasks.diffusion_commands import flag_error, progress_printer
from optograph.tools.diffusion.baselines import BASELINE_METHODS, best_built_in, check_methods
from optograph.tools.diffusion.errors import DiffusionInputError
from optograph.tools.diffusion.evaluator import ScheduleEvaluator, build_evaluator
from optograph.tools.diffusion.macs_budget import check_budget, full_network_macs, macs_budget_of
from optograph.tools.diffusion.noise import NoiseBank
from optograph.tools.diffusion.reference import check_enough_images
from optograph.tools.diffusion.sampler import SOLVERS, baseline_scheduler
from optograph.tools.diffusion.search import SearchConfig
from optograph.tools.diffusion.search_space import coerce_schedule
from optograph.tools.diffusion.session import SessionConfig, run_session

JUDGE_SEED = 10_007
# --quick: every part once at tiny sizes (one seed; FID needs more images than the digits
# features' 32); it exercises the code, its numbers mean nothing
QUICK = {"steps": [4, 6, 10], "compare_steps": [4], "seeds": [0], "fidelities": "34,102",
         "evaluations": 4, "judge_images": 40, "methods": "ddim-trailing,unipc"}


def target(steps: int) -> float:
    return 0.5 if steps <= 4 else 0.8


def search(evaluator: ScheduleEvaluator, args: argparse.Namespace, steps: int, seed: int,
           fidelities: list[int] | None, macs_share: float | None = None,
           exact_steps: bool = False) -> dict[str, Any]:
    """One search session on the noise of `seed`; its result.json with the wall time."""
    config = SessionConfig(steps=steps, evaluations=args.evaluations, solver=args.solver,
                           images=evaluator.num_images, seed=seed, device=args.device,
                           fidelities=fidelities, macs_share=macs_share,
                           exact_steps=exact_steps, baselines=False,
                           samples=False)
    searcher = evaluator.with_noise_seed(seed)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="optograph-fidelity-") as folder:
        result = run_session(config, folder, evaluator=searcher, on_result=progress_printer())
    result["wall_seconds"] = time.perf_counter() - started
    return result


def judge_of(evaluator: ScheduleEvaluator, images: int, seed: int) -> ScheduleEvaluator:
    """The search's model and reference on a noise bank no search saw."""
    return dataclasses.replace(evaluator, noise=NoiseBank.for_model(
        evaluator.model, images, seed=JUDGE_SEED + seed))


def built_in(judge: ScheduleEvaluator, steps: int, methods: list[str]) -> tuple[str, float]:
    """The best built-in scheduler at `steps` on the judge's noise (a failing one is left out)."""
    scores = {}
    for method in methods:
        try:
            scores[method] = judge.baseline(method, steps).fid
        except Exception as error:  # noqa: BLE001 - a scheduler that fails on this model
            print(f"  built-in {method} at {steps} steps failed: {error}", file=sys.stderr)
    best = best_built_in(scores)
    if best is None:
        raise RuntimeError(f"no built-in scheduler gave a finite FID at {steps} steps")
    print(f"  best built-in at {steps} steps: {best} {scores[best]:.3f} (" + ", ".join(
        f"{m} {f:.2f}" for m, f in scores.items()) + ")", flush=True)
    return best, scores[best]


def judged(judge: ScheduleEvaluator, result: dict[str, Any]) -> float:
    return judge(coerce_schedule(result)).fid


def line(kind: str, steps: int, seed: int, result: dict[str, Any], fid: float) -> str:
    return (f"  {kind:<6} {steps:>2} steps seed {seed}: judged {fid:7.3f} (search {result['fid']:.3f}"
            f" on {result['images']} images; {result['evaluations']} evaluations, "
            f"{result['images_spent']} images; {result['wall_seconds']:.1f} s) "
            f"t={result['timesteps']}")


def parse_checked() -> tuple[argparse.Namespace, list[int], list[str], ScheduleEvaluator]:
    """The flags, the fidelities, the built-in methods and the search's evaluator; a bad flag
    is one line and exit status 2 here, before any search runs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--steps", type=int, nargs="*", default=[4, 6, 10],
                        help="step counts of (b) (default 4 6 10; none: skip (b))")
    parser.add_argument("--compare-steps", type=int, nargs="*", default=[4],
                        help="step counts of (a), on every seed (default 4; none: skip (a))")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="seeds of (a); (b) at the other step counts uses the first")
    parser.add_argument("--solver", default="dpmpp2m", choices=SOLVERS)
    parser.add_argument("--fidelities", default="128,512,2048")
    parser.add_argument("--evaluations", type=int, default=40,
                        help="the budget: evaluations at the highest fidelity (default 40)")
    parser.add_argument("--judge-images", type=int, default=2048)
    parser.add_argument("--methods", default=",".join(BASELINE_METHODS),
                        help="built-in methods (default: all)")
    parser.add_argument("--converged-steps", type=int, default=0, metavar="N",
                        help="(b) also scores UniPC at N steps (e.g. 50) on each judge bank: "
                        "the model's own near-converged FID, beside the ratio's target")
    parser.add_argument("--macs-budget", type=float, default=None, metavar="SHARE",
                        help="(d): a skip-set search under SHARE x the full network's MACs")
    parser.add_argument("--macs-steps", type=int, default=4, help="steps of (d) (default 4)")
    parser.add_argument("--macs-exact", action="store_true",
                        help="(d) also runs the search with --exact-steps, for reference")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when present)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--cache", default=None, help="reference statistics cache folder")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the results")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes that only exercise the code (< 3 min on 2 cores)")
    args = parser.parse_args()
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        fidelities = [int(x) for x in args.fidelities.split(",")]
        methods = check_methods(args.methods.split(","))
        SessionConfig(fidelities=fidelities, evaluations=args.evaluations).check()
        evaluator = build_evaluator("digits", "digits", args.solver, args.device, fidelities[-1],
                                    0, cache_dir=args.cache, batch_size=args.batch_size)
        check_enough_images(args.judge_images, evaluator.fid.extractor, "judge_images")
        if args.converged_steps:  # the sampler's own rule for a step count, checked before any search
            try:
                baseline_scheduler(evaluator.model, "unipc", args.converged_steps)
            except DiffusionInputError as error:
                raise DiffusionInputError("converged_steps", str(error).partition(": ")[2]) from None
        for count in fidelities:
            evaluator.at_images(count)
        if args.macs_budget is not None:  # a budget the skip sets cannot reach: refused now
            config = SearchConfig(steps=args.macs_steps, macs_share=args.macs_budget)
            config.check()
            check_budget(evaluator, args.macs_steps, macs_budget_of(config, evaluator),
                         config.max_skip_share, "macs_budget")
    except DiffusionInputError as error:  # a field named as its flag, as the CLI names it
        parser.error(str(flag_error(error)))
    except ValueError as error:  # the only plain one: --fidelities not a list of integers
        parser.error(f"--fidelities: {str(error).partition(': ')[2] or error}")
    return args, fidelities, methods, evaluator


class FidelityRun:
    """One run of the benchmark: each seed's judge bank, the best built-in per (steps, seed)
    and UniPC at --converged-steps, each computed once, and the report the parts fill."""

    def __init__(self, args: argparse.Namespace, fidelities: list[int], methods: list[str],
                 evaluator: ScheduleEvaluator) -> None:
        self.args, self.fidelities, self.methods, self.evaluator = args, fidelities, methods, evaluator
        self.report: dict[str, Any] = {"args": vars(args), "device": str(evaluator.model.device),
                                       "searches": [], "fixed_vs_multi": [], "vs_built_in": []}
        self.judges: dict[int, ScheduleEvaluator] = {}
        self.best_built_in: dict[tuple[int, int], tuple[str, float]] = {}
        self.converged: dict[int, float] = {}

    def judge_and_built_in(self, steps: int, seed: int) -> tuple[ScheduleEvaluator, str, float]:
        if seed not in self.judges:  # a judge bank is drawn once per seed, not once per call
            self.judges[seed] = judge_of(self.evaluator, self.args.judge_images, seed)
        judge = self.judges[seed]
        if (steps, seed) not in self.best_built_in:
            self.best_built_in[steps, seed] = built_in(judge, steps, self.methods)
        return (judge, *self.best_built_in[steps, seed])

    def converged_fid(self, seed: int) -> float:
        """UniPC at --converged-steps on the seed's judge bank: the 10-step targets read
        against the model's own limit (below it, a schedule beats many more steps)."""
        if seed not in self.converged:
            steps = self.args.converged_steps
            self.converged[seed] = self.judges[seed].baseline("unipc", steps).fid
            print(f"  UniPC at {steps} steps (near converged): {self.converged[seed]:.3f}",
                  flush=True)
        return self.converged[seed]

    def searched(self, kind: str, steps: int, seed: int, judge: ScheduleEvaluator,
                 fidelities: list[int] | None, macs_share: float | None = None,
                 exact_steps: bool = False) -> tuple[dict[str, Any], float]:
        """One search, judged on `judge`'s bank, printed and recorded in the report."""
        result = search(self.evaluator, self.args, steps, seed, fidelities, macs_share, exact_steps)
        fid = judged(judge, result)
        print(line(kind, steps, seed, result, fid), flush=True)
        self.report["searches"].append({"kind": kind, "steps": steps, "seed": seed,
                                        "judged_fid": fid, **{k: result.get(k) for k in (
                                            "timesteps", "skip_sets", "fid", "validation_fid",
                                            "images", "images_spent", "evaluations", "macs",
                                            "full_network_macs", "search_seconds",
                                            "wall_seconds", "validation")}})
        return result, fid

    def steps_and_fidelities(self, steps: int, seed: int) -> None:
        """(b) at `steps` when it is one of --steps, (a) when it is one of --compare-steps."""
        args = self.args
        judge, method, best_fid = self.judge_and_built_in(steps, seed)
        multi, multi_fid = self.searched("multi", steps, seed, judge, self.fidelities)
        if steps in args.steps:
            row = {"steps": steps, "seed": seed, "built_in": method, "built_in_fid": best_fid,
                   "searched_fid": multi_fid, "ratio": multi_fid / best_fid,
                   "target": target(steps)}
            if args.converged_steps:
                row |= {"converged_steps": args.converged_steps,
                        "converged_ratio": self.converged_fid(seed) / best_fid}
            self.report["vs_built_in"].append(row)
        if steps in args.compare_steps:
            fixed, fixed_fid = self.searched("fixed", steps, seed, judge, None)
            self.report["fixed_vs_multi"].append({
                "steps": steps, "seed": seed, "fixed_fid": fixed_fid, "multi_fid": multi_fid,
                "ratio": multi_fid / fixed_fid, "fixed_seconds": fixed["wall_seconds"],
                "multi_seconds": multi["wall_seconds"]})

    def skips(self) -> None:
        """(d): the search under --macs-budget against the best built-in at full MACs."""
        args = self.args
        steps, seed, share = args.macs_steps, args.seeds[0], args.macs_budget
        judge, method, best_fid = self.judge_and_built_in(steps, seed)
        full = full_network_macs(self.evaluator, steps)
        skips, skips_fid = self.searched("skips", steps, seed, judge, self.fidelities, share)
        self.report["skips"] = {"steps": steps, "seed": seed, "share": share,
                                "macs_share": skips["macs"] / full, "searched_fid": skips_fid,
                                "answer_steps": len(skips["timesteps"]), "stage": skips["stage"],
                                "built_in": method, "built_in_fid": best_fid,
                                "ratio": skips_fid / best_fid, "target": 1.0}
        if args.macs_exact:  # the paper's search: exactly `steps` steps, skip sets only
            result, exact_fid = self.searched("skips-exact", steps, seed, judge, self.fidelities,
                                              share, True)
            self.report["skips"]["exact_steps"] = {"searched_fid": exact_fid,
                                                   "macs_share": result["macs"] / full,
                                                   "ratio": exact_fid / best_fid}


def main() -> int:
    started = time.perf_counter()
    args, fidelities, methods, evaluator = parse_checked()
    print(f"digits on {evaluator.model.device}, {args.solver}; budget {args.evaluations} x "
          f"{fidelities[-1]} images; fidelities {fidelities}; judged on {args.judge_images} "
          f"fresh images (loaded in {time.perf_counter() - started:.1f} s)", flush=True)
    run = FidelityRun(args, fidelities, methods, evaluator)
    for steps in sorted(set(args.steps) | set(args.compare_steps)):
        for seed in args.seeds if steps in args.compare_steps else args.seeds[:1]:
            run.steps_and_fidelities(steps, seed)
    if args.macs_budget is not None:
        run.skips()
    report = run.report
    print_tables(report)
    report["total_seconds"] = time.perf_counter() - started
    print(f"total {report['total_seconds']:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=float))
        print(f"wrote {args.json}")
    return 0


def print_tables(report: dict[str, Any]) -> None:
    rows = report["fixed_vs_multi"]
    if rows:
        print("\n(a) multi-fidelity vs fixed fidelity at equal images, judged on fresh noise")
        print("steps seed    fixed    multi  multi/fixed  fixed s  multi s")
        for r in rows:
            print(f"{r['steps']:>5} {r['seed']:>4} {r['fixed_fid']:8.3f} {r['multi_fid']:8.3f} "
                  f"{r['ratio']:11.2f}x {r['fixed_seconds']:8.1f} {r['multi_seconds']:8.1f}")
        met = sum(r["ratio"] <= 1.0 for r in rows)
        print(f"mean ratio {statistics.mean(r['ratio'] for r in rows):.2f}x; multi <= fixed on "
              f"{met}/{len(rows)} (target: all)")
    rows = report["vs_built_in"]
    if rows:
        print("\n(b) searched (multi-fidelity) vs the best built-in, judged on fresh noise")
        print("steps seed  best built-in           searched  ratio  target")
        for r in rows:
            mark = "ok" if r["ratio"] <= r["target"] else "MISSED"
            limit = (f"  (UniPC at {r['converged_steps']} steps: {r['converged_ratio']:.2f}x)"
                     if "converged_ratio" in r else "")
            print(f"{r['steps']:>5} {r['seed']:>4}  {r['built_in']:<15} {r['built_in_fid']:7.3f} "
                  f"{r['searched_fid']:9.3f} {r['ratio']:5.2f}x  <= {r['target']}x {mark}{limit}")
    skips = report.get("skips")
    if skips:
        mark = "ok" if skips["ratio"] <= skips["target"] else "MISSED"
        print(f"\n(d) under {skips['share']:.0%} of the full MACs at {skips['steps']} steps: "
              f"the answer has {skips['answer_steps']} steps ({skips['stage']}), judged "
              f"{skips['searched_fid']:.3f} at {skips['macs_share']:.0%} of the full MACs; best "
              f"built-in at full MACs {skips['built_in']} {skips['built_in_fid']:.3f}: "
              f"{skips['ratio']:.2f}x (target <= {skips['target']}x) {mark}")
        exact = skips.get("exact_steps")
        if exact:
            print(f"    --exact-steps (skip sets at {skips['steps']} steps only, "
                  f"{exact['macs_share']:.0%} of the MACs): judged {exact['searched_fid']:.3f}, "
                  f"{exact['ratio']:.2f}x")
    print("\n(c) wall time per search (s): " + ", ".join(
        f"{s['kind']} {s['steps']}/{s['seed']} {s['wall_seconds']:.1f}" for s in report["searches"]))


if __name__ == "__main__":
    raise SystemExit(main())
