"""Every searched answer on every seed's judge (python benchmarks/cross_judge.py RESULT.json ...).

diffusion_fidelity.py judges the answer of the search on noise seed S on one bank of fresh
noise, JUDGE_SEED + S, against the best built-in scheduler on that same bank. How much of a
ratio is the schedule and how much is that bank? This script re-judges every answer found in
its JSON reports on the judge bank of every seed, beside the built-ins, and prints the ratio
matrix and each answer's mean ratio over the banks, with its spread (standard deviation):
more banks (`--seeds 0 1 2 3 4 5 6`) tell a schedule from a lucky bank.

    python benchmarks/diffusion_fidelity.py ... --seeds 0 --json seed0.json   # and 1, 2
    python benchmarks/cross_judge.py seed0.json seed1.json seed2.json   # ~13 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from diffusion_fidelity import built_in, judge_of  # noqa: E402

from optograph.tasks.diffusion_commands import flag_error  # noqa: E402
from optograph.tools.diffusion.banks import spread  # noqa: E402
from optograph.tools.diffusion.baselines import check_methods  # noqa: E402
from optograph.tools.diffusion.errors import DiffusionInputError  # noqa: E402
from optograph.tools.diffusion.evaluator import build_evaluator  # noqa: E402
from optograph.tools.diffusion.reference import check_enough_images  # noqa: E402
from optograph.tools.diffusion.search_space import coerce_schedule  # noqa: E402


def answers(paths: list[str]) -> list[dict[str, Any]]:
    """The searches of diffusion_fidelity.py's JSON reports, each with its report's solver."""
    found = []
    for path in paths:
        try:
            report = json.loads(Path(path).read_text())
            solver = report["args"]["solver"]
            found += [{**search, "solver": solver, "file": Path(path).name}
                      for search in report["searches"]]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}: not a diffusion_fidelity.py report ({error})") from None
    if not found:
        raise ValueError("the reports hold no searches")
    if len({(a["solver"], a["steps"]) for a in found}) > 1:
        raise ValueError("the reports mix solvers or step counts; give one kind")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", help="JSON reports of diffusion_fidelity.py")
    parser.add_argument("--seeds", type=int, nargs="*", default=None,
                        help="judge banks (default: the seeds of the reports' searches)")
    parser.add_argument("--judge-images", type=int, default=2048)
    parser.add_argument("--methods", default="unipc,dpmpp2m-logsnr")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None, metavar="PATH")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:  # bad input is one line and exit status 2, checked as diffusion_fidelity.py does
        found = answers(args.reports)
        steps, solver = found[0]["steps"], found[0]["solver"]
        methods = check_methods(args.methods.split(","))
        evaluator = build_evaluator("digits", "digits", solver, args.device, 512, 0)
        check_enough_images(args.judge_images, evaluator.fid.extractor, "judge_images")
    except DiffusionInputError as error:
        parser.error(str(flag_error(error)))  # a field named as its flag, as the CLI names it
    except ValueError as error:  # answers(): the reports themselves
        parser.error(f"reports: {error}")
    seeds = args.seeds if args.seeds else sorted({a["seed"] for a in found})
    started = time.perf_counter()
    ratios: list[list[float]] = [[] for _ in found]
    banks = []
    for seed in seeds:
        judge = judge_of(evaluator, args.judge_images, seed)
        method, reference = built_in(judge, steps, methods)
        fids = [judge(coerce_schedule(answer)).fid for answer in found]
        for row, fid in zip(ratios, fids, strict=True):
            row.append(fid / reference)
        banks.append({"seed": seed, "built_in": method, "built_in_fid": reference, "fids": fids})
        print(f"  judge bank {seed}: {method} {reference:.3f}; answers "
              + ", ".join(f"{f:.3f}" for f in fids), flush=True)
    print(f"\n{steps} steps, {solver}: answer / best built-in, on each seed's judge bank")
    print("answer (file, search seed)        " + "".join(f"  bank {s}" for s in seeds)
          + "   mean  spread")
    for answer, row in zip(found, ratios, strict=True):
        label = f"{answer['file']} seed {answer['seed']}"
        print(f"{label:34s}" + "".join(f"  {r:5.2f}x" for r in row)
              + f"  {statistics.fmean(row):5.2f}x  "
              + ("    -" if (deviation := spread(row)) is None else f"{deviation:5.2f}"))
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "steps": steps, "solver": solver, "judge_images": args.judge_images, "banks": banks,
            "answers": [{"file": a["file"], "seed": a["seed"], "timesteps": a["timesteps"],
                         "ratios": r, "mean_ratio": statistics.fmean(r),
                         "spread": spread(r)}
                        for a, r in zip(found, ratios, strict=True)]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
