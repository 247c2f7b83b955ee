"""`optograph diffusion compare`: diffusers' built-in schedulers at several step counts, beside
searched schedules (result.json files, or searches it runs), as a table, a JSON and a plot."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from .diffusion_commands import (
    DiffusionCommandError,
    check_flags,
    check_validate,
    evaluator_from_args,
    flag_error,
    int_list,
    read_result_file,
    search_once,
    session_config,
)


def run_compare_command(args: argparse.Namespace) -> int:
    from optograph.tools.diffusion.baselines import Row, check_methods, run_baselines
    from optograph.tools.diffusion.compare import write_comparison
    from optograph.tools.diffusion.errors import DiffusionInputError

    check_flags(args)
    steps = int_list(args.steps, "--steps")
    check_validate(args)
    if any(s < 1 for s in steps):
        raise DiffusionCommandError(f"--steps: must be positive; got {args.steps}")
    methods = check_methods(args.methods.split(",")) if args.methods else None
    searched = [read_result_file(path) for path in args.results]
    images = args.images
    if args.search_evaluations > 0:  # the search options, checked before a model is loaded
        config = session_config(args, steps[0], args.search_evaluations, None, False)
        try:
            config.check()
        except DiffusionInputError as error:
            raise flag_error(error) from None
        images = config.images
    evaluator = evaluator_from_args(args, images)
    rows = run_baselines(evaluator, steps, methods, on_row=lambda r: print(
        f"{r.method:<16} {r.steps:>3} steps " + (f"failed: {r.error}" if r.error else
                                                 f"fid {r.fid:8.3f} ({r.seconds:.1f}s)"),
        file=sys.stderr))
    loaded = [_reevaluate(evaluator, path, data) for path, data in zip(args.results, searched,
                                                                       strict=True)]
    out = Path(args.out)
    searches: list[list[int]] = []  # each search's answer seeds the next step counts' searches
    for count in steps if args.search_evaluations > 0 else []:
        result = search_once(evaluator, args, count, args.search_evaluations,
                             out / f"search-{count}", None, True, False, neighbours=searches)
        searches.append(result["timesteps"])
        rows.append(Row(f"searched ({args.solver})", count, result["fid"], result["macs"],
                        result["search_seconds"], result["timesteps"], result["skip_sets"]))
    from optograph.tools.diffusion.extras import add_samples, write_report

    everything = [*rows, *loaded]
    out.mkdir(parents=True, exist_ok=True)
    add_samples(evaluator, everything, out, args.solver,
                lambda line: print(line, file=sys.stderr, flush=True))
    write_comparison(everything, out)
    print(f"wrote {write_report(everything, out, 'diffusion compare')}")
    return 0


def _reevaluate(evaluator: Any, path: str, data: dict[str, Any]) -> Any:
    """A searched schedule scored by this comparison's own evaluator (its noise, images and
    reference), like the baselines, with the solver it was searched for: with another --seed
    it is a check on fresh noise."""
    from optograph.tools.diffusion.baselines import Row

    scorer = dataclasses.replace(evaluator, solver=data["solver"])
    schedule = data["schedule"]
    label = f"searched ({scorer.solver})"
    try:
        result = scorer(schedule)
    except Exception as error:  # noqa: BLE001 - a row marked failed, never the end of compare
        reason = " ".join(f"{type(error).__name__}: {error}".split())
        print(f"{label} {len(schedule.timesteps):>3} steps failed: {reason} ({path})",
              file=sys.stderr)
        return Row(label, len(schedule.timesteps), float("nan"), float("nan"), 0.0,
                   list(schedule.timesteps), [list(s) for s in schedule.skip_sets], error=reason)
    in_search = "" if data["fid"] is None else f"in its search: {data['fid']:.3f}; "
    print(f"{label} {len(schedule.timesteps):>3} steps fid {result.fid:8.3f} "
          f"({in_search}{path})", file=sys.stderr)
    return Row(label, len(schedule.timesteps), result.fid, result.macs, result.seconds,
               list(schedule.timesteps), [list(s) for s in schedule.skip_sets])
