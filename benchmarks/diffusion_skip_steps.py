"""Where skip sets hurt on the shipped digits model: the same MACs saved at one step only (the
highest-noise first step, or the last) against spread over every step.

    nice -n 10 python benchmarks/diffusion_skip_steps.py --images 256

For a 4-step DPM-Solver++(2M) grid, skip the biggest units (by MACs saved) until a share of one
network call is saved, at the first step only, at the last step only, or that share divided
over all steps; prints FID (the search's protocol: the training digits as reference) and the
schedule's MACs as a share of the full network."""

from __future__ import annotations

import argparse

from optograph.tools.diffusion.evaluator import build_evaluator
from optograph.tools.diffusion.search_space import Schedule, SkipSet


def biggest_units(evaluator: object, share: float) -> SkipSet:
    """The biggest units until `share` of one call is saved."""
    full = evaluator.step_macs(())  # type: ignore[attr-defined]
    units = sorted(evaluator.units, key=lambda u: evaluator.step_macs((u,)))  # type: ignore[attr-defined]
    chosen: list[str] = []
    for unit in units:
        if full - evaluator.step_macs(tuple(chosen)) >= share * full:  # type: ignore[attr-defined]
            break
        chosen.append(unit)
    return tuple(sorted(chosen))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", default="830,533,346,63")
    parser.add_argument("--solver", default="dpmpp2m")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--shares", default="0.4,0.8", help="shares of one call saved at one step")
    args = parser.parse_args()
    evaluator = build_evaluator("digits", "digits", args.solver, None, args.images, 0)
    timesteps = tuple(int(t) for t in args.timesteps.split(","))
    steps = len(timesteps)
    full = evaluator(Schedule.full(timesteps))
    print(f"full network {list(timesteps)}: FID {full.fid:.2f}", flush=True)
    for share in (float(x) for x in args.shares.split(",")):
        one = biggest_units(evaluator, share)
        spread = biggest_units(evaluator, share / steps)
        cases = {"first step only": [one if i == 0 else () for i in range(steps)],
                 "last step only": [one if i == steps - 1 else () for i in range(steps)],
                 "spread over all": [spread for _ in range(steps)]}
        for name, skip_sets in cases.items():
            result = evaluator(Schedule(timesteps, tuple(skip_sets)))
            print(f"save {share:.0%} of a call, {name:<16}: FID {result.fid:8.2f} at "
                  f"{result.macs / full.macs:.0%} MACs ({len(one)} units: {', '.join(one)})"
                  if name != "spread over all" else
                  f"save {share:.0%} of a call, {name:<16}: FID {result.fid:8.2f} at "
                  f"{result.macs / full.macs:.0%} MACs ({len(spread)} units per step)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
