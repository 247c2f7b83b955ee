"""`optograph diffusion ...`: search time steps and skip sets of a diffusers UNet, compare
against diffusers' schedules, evaluate one schedule. torch is imported only when a command
runs, so `optograph --help` stays fast."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optograph.graph.errors import OptographError

if TYPE_CHECKING:  # torch stays unimported until a command runs
    from optograph.tools.diffusion.search import OnResult, Result


class DiffusionCommandError(OptographError, ValueError):
    """Bad command-line input; one line naming the option."""


def int_list(text: str, option: str) -> list[int]:
    try:
        values = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise DiffusionCommandError(f"{option}: expected integers separated by commas; got {text!r}") from None
    if not values:
        raise DiffusionCommandError(f"{option}: empty")
    return values


def _macs(text: str | None) -> float | None:
    """--macs-budget in MACs (None when absent, or given as a share: _macs_share)."""
    if text is None or text.strip().endswith("%"):
        return None
    scale = {"k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}.get(text[-1:].lower(), 1.0)
    try:
        value = float(text[:-1] if scale != 1.0 else text) * scale
    except ValueError:
        raise DiffusionCommandError(f"--macs-budget: expected a number of MACs (e.g. 3e8 or 300M); got {text!r}") from None
    if value <= 0:
        raise DiffusionCommandError(f"--macs-budget: must be positive; got {text!r}")
    return value


def _macs_share(text: str | None) -> float | None:
    """--macs-budget 80%: a share of the full network's MACs at --steps (None otherwise)."""
    if text is None or not text.strip().endswith("%"):
        return None
    try:
        return float(text.strip()[:-1]) / 100
    except ValueError:
        raise DiffusionCommandError(f"--macs-budget: expected a percentage (e.g. 80%); got {text!r}") from None


def check_flags(args: argparse.Namespace, make_folders: bool = True) -> None:
    """The numeric and path flags every diffusion command shares, checked before any model
    is loaded: one line naming the flag (issue 15). The output folders are made (and so
    checked) only with `make_folders`, once every other flag is known to be good."""
    import math

    from optograph.tools.diffusion.errors import DiffusionInputError
    from optograph.tools.diffusion.noise import check_seed

    from .errors import TaskError
    from .paths import check_output_folder

    try:
        check_seed(args.seed)
    except DiffusionInputError as error:
        raise flag_error(error) from None
    if args.batch_size < 1:
        raise DiffusionCommandError(f"--batch-size: must be at least 1; got {args.batch_size}")
    probability = getattr(args, "mutation_prob", 0.0)
    if not (math.isfinite(probability) and 0.0 <= probability <= 1.0):
        raise DiffusionCommandError(f"--mutation-prob: must be between 0 and 1; got {probability}")
    folders = [("--cache", args.cache)]
    if args.diffusion_command in ("search", "compare"):
        folders.append(("--out", args.out))
    for flag, folder in folders if make_folders else ():
        if folder is not None:
            try:
                check_output_folder(Path(folder), flag)
            except TaskError as error:
                raise DiffusionCommandError(str(error)) from None


def _skip_sets(text: str | None, count: int) -> list[list[str]]:
    """--skip-sets: a JSON list of `count` lists of unit names (empty lists when not given)."""
    if text is None:
        return [[] for _ in range(count)]
    try:
        value = json.loads(text)
    except ValueError as error:
        raise DiffusionCommandError(f"--skip-sets: not JSON ({error})") from None
    if not (isinstance(value, list) and len(value) == count
            and all(isinstance(s, list) and all(isinstance(u, str) for u in s) for s in value)):
        raise DiffusionCommandError(
            f"--skip-sets: expected a JSON list of {count} lists of unit names (one per time step)")
    return value


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="diffusers folder, hub id, or 'digits' (shipped)")
    parser.add_argument("--reference", default="digits",
                        help="'digits' (train split, default), 'digits-test', a .npy/.npz file, a "
                        "folder of images, or proxy[:STEPS]")
    parser.add_argument("--solver", default="ddim",
                        help="ddim, dpmpp2m (DPM-Solver++(2M)) or unipc (default ddim)")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when present)")
    parser.add_argument("--images", type=int, default=512, help="images per FID (default 512)")
    parser.add_argument("--features", default=None,
                        help="FID features: 'digits' (default) or inception:PATH.pth")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default=None, help="reference statistics cache folder")
    parser.add_argument("--batch-size", type=int, default=256)


def _search_options(parser: argparse.ArgumentParser) -> None:
    # The defaults (None here) are the search session's, every entry point's (session.py),
    # sized for a CPU; the paper's (SearchConfig's) are 50 / 10 / 25 / 10.
    parser.add_argument("--population", type=int, default=None, help="default 20 (paper: 50)")
    parser.add_argument("--top-k", type=int, default=None,
                        help="parents; default a quarter of the population: 5 (paper: 10)")
    parser.add_argument("--mutants", type=int, default=None,
                        help="default 2/5 of the population: 8 (paper: 25)")
    parser.add_argument("--mutation-prob", type=float, default=0.25)
    parser.add_argument("--crossovers", type=int, default=None,
                        help="default 1/5 of the population: 4 (paper: 10)")
    parser.add_argument("--validate", type=int, default=5,
                        help="re-score the best K schedules on fresh noise and answer with the "
                        "lowest mean FID; counts among the evaluations, at most one in eight "
                        "(default 5, 0: off)")
    parser.add_argument("--fidelities", default=None,
                        help="multi-fidelity: image counts, increasing, e.g. 128,512,2048; a "
                        "candidate is scored on the first count and re-scored on the next ones "
                        "only while it ranks well (successive halving). --images becomes the "
                        "last count; --evaluations counts evaluations at the last count")
    parser.add_argument("--image-budget", type=int, default=None,
                        help="images the search may sample (evaluated or stored), instead of "
                        "--evaluations x --images")


def register(subparsers: Any) -> None:
    from .diffusion_compare import run_compare_command  # it imports this module's helpers

    group = subparsers.add_parser("diffusion", help="diffusion time-step and architecture search")
    commands = group.add_subparsers(dest="diffusion_command", metavar="COMMAND")
    group.set_defaults(handler=lambda args: group.print_help() or 0)

    search = commands.add_parser("search", help="two-stage evolutionary search of a K-step schedule")
    _common(search)
    search.add_argument("--steps", type=int, required=True, help="time steps K")
    search.add_argument("--evaluations", type=int, default=40,
                        help="candidate evaluations N (default 40)")
    search.add_argument("--out", required=True, help="folder for search.sqlite and result.json")
    search.add_argument("--macs-budget", default=None,
                        help="MACs per image for the second stage (skip sets), e.g. 300M, or a "
                        "share of the full network's MACs at --steps, e.g. 80%%; the search "
                        "also tries the fewer full-network steps it pays for")
    search.add_argument("--exact-steps", action="store_true",
                        help="with --macs-budget: keep exactly --steps steps (skip sets only, "
                        "as in the paper)")
    search.add_argument("--resume", action="store_true", help="continue the search in --out")
    _search_options(search)
    search.add_argument("--no-baselines", action="store_true", help="skip the baselines")
    search.add_argument("--seed-from", nargs="*", default=[], metavar="RESULT",
                        help="result.json of searches at other step counts (e.g. K-1, K+1): "
                        "their best time steps, resized to K, seed the first generation")
    search.add_argument("--executor", default="local",
                        help="local (in-process, default), ray (a local Ray cluster) or "
                        "ray://HOST:PORT (an existing cluster): one evaluator actor per GPU")
    search.add_argument("--max-concurrency", type=int, default=None,
                        help="Ray evaluator actors (default: one per GPU, else one per CPU)")
    search.set_defaults(handler=run_search_command)

    compare = commands.add_parser("compare", help="FID table and plot: baselines (and searches)")
    _common(compare)
    compare.add_argument("--steps", default="4,6,10", help="step counts, e.g. 4,6,10")
    compare.add_argument("--out", default="diffusion-compare", help="folder for table, json, plot")
    compare.add_argument("--methods", default=None, help="baseline methods (default: all)")
    compare.add_argument("--search-evaluations", type=int, default=0,
                         help="also search each step count with this many evaluations")
    compare.add_argument("--results", nargs="*", default=[], help="result.json files to include")
    compare.add_argument("--seeds", default=None, metavar="S,S,...",
                         help="score every row on the noise bank of each seed (e.g. 0,1,2): mean "
                         "FID ± its spread, and each searched row's ratio to the best built-in "
                         "bank by bank; a search itself runs on --seed's bank")
    _search_options(compare)
    compare.set_defaults(handler=run_compare_command)

    export = commands.add_parser(
        "export", help="a search result as a diffusers scheduler (+ skip sets) for your pipeline")
    export.add_argument("result", help="a search's result.json")
    export.add_argument("--model", default=None,
                        help="the model's folder or hub id (default: the one it was searched on)")
    export.add_argument("--out", default=None, help="folder (default: RESULT's folder/export)")
    export.set_defaults(handler=run_export_command)

    evaluate = commands.add_parser("evaluate", help="FID and MACs of one schedule")
    _common(evaluate)
    evaluate.add_argument("--timesteps", required=True, help="strictly descending, e.g. 999,600,300,50")
    evaluate.add_argument("--skip-sets", default=None, help="JSON list of lists of unit names")
    evaluate.set_defaults(handler=run_evaluate_command)


def evaluator_from_args(args: argparse.Namespace, images: int | None = None) -> Any:
    """The command's evaluator, on `images` images (default --images; a search session's
    own count with --fidelities)."""
    from optograph.tools.diffusion.evaluator import build_evaluator

    images = args.images if images is None else images
    if images < 2:
        raise DiffusionCommandError(f"--images: must be at least 2; got {images}")
    from optograph.tools.diffusion.errors import DiffusionInputError

    started = time.perf_counter()
    try:
        evaluator = build_evaluator(args.model, args.reference, args.solver, args.device,
                                    images, args.seed, args.features, args.cache,
                                    args.batch_size)
    except DiffusionInputError as error:
        raise flag_error(error) from None  # name the option as typed
    print(f"loaded {args.model} on {evaluator.model.device}, reference {args.reference} "
          f"({evaluator.fid.reference.count} images), {len(evaluator.units)} skippable units, "
          f"{evaluator.step_macs(()) / 1e6:.1f} M MACs per step ({time.perf_counter() - started:.1f} s)",
          file=sys.stderr)
    return evaluator


def progress_printer() -> OnResult:
    """A search's on_result that prints one line per evaluation to stderr (the CLI's and the
    benchmarks' progress), with the best search-noise FID so far."""
    from optograph.tools.diffusion.validation import VALIDATION_STAGE

    best: list[float] = []

    def show(index: int, total: int, result: Result, cached: bool, seconds: float) -> None:
        if result.stage != VALIDATION_STAGE:  # other noise: not comparable with the search's best
            best.append(min([result.fid, *best[-1:]]))
        status = "stored" if cached else f"{seconds:.1f}s"
        print(f"[{index}/{total}] {result.stage:<15} fid {result.fid:8.3f} best {best[-1] if best else result.fid:8.3f} "
              f"macs {result.macs / 1e6:7.1f}M t={list(result.schedule.timesteps)} ({status})",
              file=sys.stderr, flush=True)

    return show


# Library fields whose flag is not "--" + the field with dashes.
_FLAGS = {"cache_dir": "--cache", "validate_top": "--validate", "baselines": "--no-baselines",
          "num_samples": "--images", "skip_set": "--skip-sets", "macs_share": "--macs-budget"}


def flag_error(error: Exception) -> DiffusionCommandError:
    """A library error naming a field (`steps: ...`) as the CLI's one line (`--steps: ...`)."""
    field = getattr(error, "argument", None) or str(error).partition(": ")[0]
    message = str(error).partition(": ")[2] or str(error)
    if field.startswith("-"):
        return DiffusionCommandError(str(error))
    flag = _FLAGS.get(field, "--" + field.replace("_", "-"))
    return DiffusionCommandError(f"{flag}: {message}")


def session_config(args: argparse.Namespace, steps: int, evaluations: int,
                   budget: float | None, baselines: bool, share: float | None = None) -> Any:
    from optograph.tools.diffusion.session import SessionConfig

    search = {"population": args.population, "top_k": args.top_k, "mutants": args.mutants,
              "crossovers": args.crossovers, "executor": getattr(args, "executor", None),
              "max_concurrency": getattr(args, "max_concurrency", None),
              "image_budget": args.image_budget, "macs_share": share,
              "exact_steps": getattr(args, "exact_steps", None),
              "fidelities": None if args.fidelities is None
              else int_list(args.fidelities, "--fidelities")}
    return SessionConfig(
        steps=steps, evaluations=evaluations, macs_budget=budget, model=str(args.model),
        reference=args.reference, solver=args.solver, images=args.images, seed=args.seed,
        features=args.features, device=args.device, cache_dir=args.cache,
        batch_size=args.batch_size, mutation_prob=args.mutation_prob,
        validate_top=args.validate, baselines=baselines,
        **{name: value for name, value in search.items() if value is not None})


def search_once(evaluator: Any, args: argparse.Namespace, steps: int, evaluations: int,
                out: Path, budget: float | None, resume: bool, baselines: bool,
                share: float | None = None, neighbours: list[list[int]] | None = None
                ) -> dict[str, Any]:
    """One search session (tools/diffusion/session.py) with the command's options."""
    from optograph.agent.executor import ExecutorError
    from optograph.tools.diffusion.errors import DiffusionInputError
    from optograph.tools.diffusion.session import run_session

    config = session_config(args, steps, evaluations, budget, baselines, share)
    try:
        return run_session(config, out, resume=resume, evaluator=evaluator,
                           neighbours=list(neighbours or []),
                           on_result=progress_printer(),
                           log=lambda line: print(line, file=sys.stderr, flush=True))
    except (DiffusionInputError, ExecutorError) as error:  # Ray: not installed, unreachable
        raise flag_error(error) from None


def check_validate(args: argparse.Namespace) -> None:
    if args.validate < 0:
        raise DiffusionCommandError(f"--validate: must be 0 or more; got {args.validate}")


def run_search_command(args: argparse.Namespace) -> int:
    from optograph.tools.diffusion.errors import DiffusionInputError

    check_flags(args, make_folders=False)

    budget, share = _macs(args.macs_budget), _macs_share(args.macs_budget)
    check_validate(args)
    if args.steps < 1:
        raise DiffusionCommandError(f"--steps: must be at least 1; got {args.steps}")
    if args.evaluations < 1:
        raise DiffusionCommandError(f"--evaluations: must be at least 1; got {args.evaluations}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise DiffusionCommandError(f"--out: {out} exists and is not a folder")
    if _stored_evaluations(out / "search.sqlite") and not args.resume:
        raise DiffusionCommandError(f"--out: {out} already holds a search; pass --resume to "
                                    "continue it or choose another folder")
    config = session_config(args, args.steps, args.evaluations, budget, not args.no_baselines,
                            share)
    try:
        config.check()
    except DiffusionInputError as error:
        raise flag_error(error) from None
    # searches at other step counts (K-1, K+1): their answers seed the first generation
    neighbours = [list(read_result_file(path, "--seed-from")["schedule"].timesteps)
                  for path in args.seed_from]
    check_flags(args)  # every flag is good: now the output folders are made
    evaluator = (evaluator_from_args(args, config.images) if config.executor in ("local", "threads")
                 else None)
    result = search_once(evaluator, args, args.steps, args.evaluations, out, budget,
                         args.resume, not args.no_baselines, share, neighbours)
    uniform = result["baselines"].get("ddim-trailing", {}).get("fid")
    versus = f" (uniform DDIM trailing: {uniform:.3f})" if uniform is not None else ""
    if "validation_fid" in result:
        versus += f", on validation noise {result['validation_fid']:.3f}"
    steps = len(result["timesteps"])
    fewer = f" (fewer full steps fit the MACs budget better than skip sets at {args.steps})"
    print(f"best {steps}-step schedule {result['timesteps']} fid {result['fid']:.3f}{versus}; "
          f"macs {result['macs'] / 1e6:.1f}M{fewer if steps < args.steps else ''}; "
          f"wrote {out / 'result.json'}")
    return 0


def _stored_evaluations(path: Path) -> int:
    """How many evaluations a search store holds (0: none, or no store: a search that failed
    before evaluating anything leaves nothing to protect)."""
    from optograph.tools.diffusion.store import stored_count

    return stored_count(path) if path.exists() else 0


def read_result_file(path: str, flag: str = "--results") -> dict[str, Any]:
    """A search's result.json named by `flag`: export's reader, its errors named by the flag."""
    from optograph.tools.diffusion.errors import DiffusionInputError
    from optograph.tools.diffusion.export import read_result

    try:
        return read_result(path)
    except DiffusionInputError as error:
        raise DiffusionCommandError(f"{flag}: {str(error).removeprefix('result: ')}") from None


def run_evaluate_command(args: argparse.Namespace) -> int:
    from optograph.tools.diffusion.search_space import Schedule

    check_flags(args)
    timesteps = int_list(args.timesteps, "--timesteps")
    skip_sets = _skip_sets(args.skip_sets, len(timesteps))
    from optograph.tools.diffusion.sampler import validate_timesteps

    validate_timesteps(timesteps, 2**62, "--timesteps")  # order first: no model needed
    evaluator = evaluator_from_args(args)
    validate_timesteps(timesteps, evaluator.num_train_timesteps, "--timesteps")
    if not isinstance(skip_sets, list) or len(skip_sets) != len(timesteps):
        raise DiffusionCommandError(f"--skip-sets: give one list per time step ({len(timesteps)})")
    result = evaluator(Schedule(tuple(timesteps), tuple(tuple(s) for s in skip_sets)))
    print(json.dumps({"timesteps": timesteps, "skip_sets": skip_sets, "solver": args.solver,
                      "fid": result.fid, "macs": result.macs, "seconds": result.seconds}))
    return 0


def run_export_command(args: argparse.Namespace) -> int:
    from optograph.tools.diffusion.errors import DiffusionInputError
    from optograph.tools.diffusion.export import export_result, usage_snippet

    out = Path(args.out) if args.out else Path(args.result).parent / "export"
    try:
        exported = export_result(args.result, args.model)
    except DiffusionInputError as error:
        if error.argument == "result":  # the positional argument: its message names the file
            raise DiffusionCommandError(str(error).partition(": ")[2]) from None
        raise flag_error(error) from None
    exported.save(out)
    skips = " and a UNet wrapper for its skip sets" if exported.skips_units else ""
    print(f"wrote {out}/scheduler and {out}/schedule.json ({exported.solver}, "
          f"{len(exported.timesteps)} steps{skips}); in your pipeline:\n")
    print(usage_snippet(out, type(exported.scheduler)))
    return 0
