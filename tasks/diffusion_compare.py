"""`optograph diffusion compare`: diffusers' built-in schedulers at several step counts, beside
searched schedules (result.json files, or searches it runs), as a table, a JSON and a plot."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections import Counter
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
    from optograph.tools.diffusion.banks import NoiseBanks
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
    seeds = [] if args.seeds is None else int_list(args.seeds, "--seeds")  # before loading
    if seeds:
        try:
            NoiseBanks.check_seeds(seeds)
        except DiffusionInputError as error:
            raise flag_error(error) from None
    evaluator = evaluator_from_args(args, images)
    banks = NoiseBanks.of(evaluator, seeds, lambda seed, result: print(
        f"  bank {seed}: fid {result.fid:8.3f} ({result.seconds:.1f}s)", file=sys.stderr,
        flush=True)) if seeds else None
    rows = run_baselines(evaluator, steps, methods, on_row=lambda r: print(
        f"{r.method:<16} {r.steps:>3} steps " + (f"failed: {r.error}" if r.error else
                                                 f"fid {_fid(r)} ({r.seconds:.1f}s)"),
        file=sys.stderr), banks=banks)
    loaded = _distinct_labels([_reevaluate(evaluator, path, data, banks)
                               for path, data in zip(args.results, searched, strict=True)],
                              args.results)
    out = Path(args.out)
    searches: list[list[int]] = []  # each search's answer seeds the next step counts' searches
    for count in steps if args.search_evaluations > 0 else []:
        result = search_once(evaluator, args, count, args.search_evaluations,
                             out / f"search-{count}", None, True, False, neighbours=searches)
        searches.append(result["timesteps"])
        row = Row(f"searched ({args.solver})", count, result["fid"], result["macs"],
                  result["search_seconds"], result["timesteps"], result["skip_sets"])
        rows.append(row if banks is None else _on_banks(row, banks))
    from optograph.tools.diffusion.extras import add_samples, write_report

    everything = [*rows, *loaded]
    out.mkdir(parents=True, exist_ok=True)
    add_samples(evaluator, everything, out, args.solver,
                lambda line: print(line, file=sys.stderr, flush=True))
    write_comparison(everything, out)
    print(f"wrote {write_report(everything, out, 'diffusion compare')}")
    return 0


def _distinct_labels(rows: list[Any], paths: list[str]) -> list[Any]:
    """Result files that would share a table cell (same solver, same steps) each named by
    their file: its folder for a search's result.json, else the file's stem."""
    cells = Counter((r.method, r.steps) for r in rows)
    return [dataclasses.replace(row, method=f"{row.method} {_file_label(Path(path))}")
            if cells[(row.method, row.steps)] > 1 else row
            for row, path in zip(rows, paths, strict=True)]


def _file_label(path: Path) -> str:
    return (path.parent.name or path.stem) if path.name == "result.json" else path.stem


def _on_banks(row: Any, banks: Any) -> Any:
    """A search's answer judged on the banks, like every other row (the search's own FID is
    on --seed's bank, the one it was chosen on)."""
    from optograph.tools.diffusion.search_space import coerce_schedule

    answer = coerce_schedule({"timesteps": row.timesteps, "skip_sets": row.skip_sets})
    judged, fids = banks.score(lambda bank: bank(answer))
    row = dataclasses.replace(row, fid=judged.fid, seeds=list(banks.seeds), fids=fids)
    print(f"{row.method} {row.steps:>3} steps fid {_fid(row)} (on --seeds)", file=sys.stderr)
    return row


def _fid(row: Any) -> str:
    """A row's FID for the progress lines: `mean ± spread` when scored on several banks."""
    return f"{row.fid:8.3f}" + ("" if row.spread is None else f" ± {row.spread:.3f}")


def _reevaluate(evaluator: Any, path: str, data: dict[str, Any], banks: Any) -> Any:
    """A searched schedule scored by this comparison's own evaluator (its noise, images and
    reference), or on each of `banks`, like the baselines, with the solver it was searched
    for: with another --seed (or --seeds) it is a check on fresh noise."""
    from optograph.tools.diffusion.banks import scored
    from optograph.tools.diffusion.baselines import Row

    scorer = dataclasses.replace(evaluator, solver=data["solver"])
    schedule = data["schedule"]
    label = f"searched ({scorer.solver})"
    try:
        result, seeds, fids = scored(scorer, banks and banks.with_solver(scorer.solver),
                                     lambda bank: bank(schedule))
    except Exception as error:  # noqa: BLE001 - a row marked failed, never the end of compare
        reason = " ".join(f"{type(error).__name__}: {error}".split())
        print(f"{label} {len(schedule.timesteps):>3} steps failed: {reason} ({path})",
              file=sys.stderr)
        return Row(label, len(schedule.timesteps), float("nan"), float("nan"), 0.0,
                   list(schedule.timesteps), [list(s) for s in schedule.skip_sets], error=reason)
    row = Row(label, len(schedule.timesteps), result.fid, result.macs, result.seconds,
              list(schedule.timesteps), [list(s) for s in schedule.skip_sets], seeds=seeds,
              fids=fids)
    in_search = "" if data["fid"] is None else f"in its search: {data['fid']:.3f}; "
    print(f"{label} {len(schedule.timesteps):>3} steps fid {_fid(row)} ({in_search}{path})",
          file=sys.stderr)
    return row
