"""How well FID on few images ranks 10-step schedules (python benchmarks/fidelity_ranking.py).

Multi-fidelity search (tools/diffusion/fidelity.py) ranks candidates by their FID on few images
and answers with the best on more; the benchmark judges on 2,048 images of fresh noise. This
script scores a fixed set of schedules (diffusers' built-in grids, three searched 10-step
schedules and mutants of them) on the first N images of a search's noise (N = 128 ... 512) and
on the judge's 2,048, and prints Spearman's rank correlation between the two, over all of them
and over the best 12 (the region where a search's pick is made).

    python benchmarks/fidelity_ranking.py --seed 1      # ~12 min on 2 cores
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).parent))
from diffusion_fidelity import judge_of  # noqa: E402

from optograph.tools.diffusion.evaluator import ScheduleEvaluator, build_evaluator  # noqa: E402
from optograph.tools.diffusion.search_space import Schedule, ScheduleSpace  # noqa: E402

# the answers of the 10-step UniPC searches on noise seeds 0, 1 and 2 (README, docs/diffusion.md)
SEARCHED = [(987, 873, 770, 742, 718, 538, 462, 211, 121, 34),
            (922, 797, 707, 520, 429, 402, 390, 259, 104, 88),
            (999, 899, 797, 772, 599, 534, 279, 232, 148, 48)]
COUNTS = (128, 192, 256, 384, 512)


def schedules(evaluator: ScheduleEvaluator, steps: int, total: int) -> list[tuple[int, ...]]:
    """The built-in grids, the searched schedules, then mutants of the good ones (all but the
    first two grids, linspace and leading: uniform, far behind) up to `total`."""
    chosen = [*evaluator.known_grids(steps), *SEARCHED]
    space = ScheduleSpace(steps, evaluator.num_train_timesteps)
    parents, rng = chosen[2:], random.Random(5)
    while len(chosen) < total:
        child = space.mutate(Schedule.full(rng.choice(parents)), rng).timesteps
        if child not in chosen:
            chosen.append(child)
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1, help="the search's noise seed")
    parser.add_argument("--schedules", type=int, default=24)
    parser.add_argument("--judge-images", type=int, default=2048)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    evaluator = build_evaluator("digits", "digits", "unipc", args.device, COUNTS[-1], 0)
    search, judge = evaluator.with_noise_seed(args.seed), judge_of(evaluator, args.judge_images,
                                                                   args.seed)
    rows = []
    for timesteps in schedules(evaluator, 10, args.schedules):
        started = time.perf_counter()
        schedule = Schedule.full(timesteps)
        images = search.images(schedule)
        few = {n: search.fid(images[:n]) for n in COUNTS}
        rows.append((timesteps, few, judge(schedule).fid))
        print(f"{list(timesteps)}  " + "  ".join(f"{n}: {f:.2f}" for n, f in few.items())
              + f"  judge: {rows[-1][2]:.2f}  ({time.perf_counter() - started:.0f} s)", flush=True)
    best = sorted(rows, key=lambda r: r[2])[:12]
    print(f"\nSpearman against the judge ({args.judge_images} images of fresh noise)")
    print("images  all   best 12")
    for n in COUNTS:
        every = spearmanr([r[1][n] for r in rows], [r[2] for r in rows])[0]
        top = spearmanr([r[1][n] for r in best], [r[2] for r in best])[0]
        print(f"{n:>6}  {every:5.2f}  {top:5.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
