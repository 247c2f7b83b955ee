"""The diffusion search on Ray against in-process, in one run:

    python benchmarks/diffusion_ray.py                      # this machine's CPUs
    python benchmarks/diffusion_ray.py --device cuda --images 2048 --solver dpmpp2m \\
        --batch-size 1024 --evaluations 40                  # one actor per GPU

1. Driver overhead: a search whose evaluator costs nothing (a fake FID), in-process and on one
   Ray actor. In-process, all of its time is the driver's (the search and the SQLite store);
   on Ray it is split into the driver's own work (submitting, collecting, searching, storing:
   the search's time outside `ray.wait`) and the round trip to the actor. An actor waits for
   its next candidate for about the round trip per evaluation: this must stay well under the
   0.4 s one evaluation takes on an H200 for one GPU actor to be kept busy.
2. The shipped digits model (`--images` per FID): evaluations per minute in-process and on
   Ray actors (`--workers`; default one per GPU, else one per CPU), with the driver's own time
   per evaluation measured the same way. On a CPU, in-process is also run with torch on one
   thread, as each actor runs it (Ray gives an actor of one CPU one thread). Actors load the model once; their start-up is
   reported apart. Both searches must find the same schedule (same seed).
The same table is printed on any device."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "tools"))

from diffusion_fakes import FakeEvaluator  # noqa: E402

from optograph.tools.diffusion.sampler import SOLVERS  # noqa: E402
from optograph.tools.diffusion.session import SessionConfig, run_session  # noqa: E402


@dataclass
class Row:
    what: str
    evaluations: int
    seconds: float  # the search, after the evaluator or the actors are built
    driver_seconds: float  # of which the driver's own work (all of it in-process)
    setup_seconds: float = 0.0  # building the evaluator / starting the actors

    def line(self) -> str:
        n = self.evaluations
        return (f"| {self.what} | {n} | {self.seconds:.2f} | {n / self.seconds * 60:.1f} | "
                f"{self.seconds / n * 1000:.1f} | {self.driver_seconds / n * 1000:.2f} | "
                f"{self.setup_seconds:.1f} |")


def search(config: SessionConfig, **kwargs: Any) -> tuple[Row, dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="optograph-ray-bench-") as folder:
        started = time.perf_counter()
        result = run_session(config, folder, **kwargs)
        total = time.perf_counter() - started
    seconds = result["search_seconds"]
    ray_info = result.get("ray")
    driver = seconds - ray_info["wait_seconds"] if ray_info else seconds
    where = f"Ray, {ray_info['actors']} actor(s)" if ray_info else "in-process"
    return Row(where, result["evaluations"], seconds, driver, total - seconds), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--solver", default="ddim", choices=SOLVERS)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--evaluations", type=int, default=16)
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=None,
                        help="Ray actors for the model (default: one per GPU, else per CPU)")
    parser.add_argument("--fake-evaluations", type=int, default=200)
    args = parser.parse_args(argv)
    import ray
    import torch

    started_ray = not ray.is_initialized()  # a test may have started one with the fakes
    if started_ray:
        ray.init(include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {
            "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "tests" / "tools")}})
    resources = ray.cluster_resources()
    device = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
    print(f"Ray {ray.__version__}: {int(resources.get('CPU', 0))} CPUs, "
          f"{int(resources.get('GPU', 0))} GPUs; device {device}; torch threads in-process "
          f"{torch.get_num_threads()}; load average {os.getloadavg()[0]:.2f}", flush=True)

    fake = SessionConfig(steps=4, evaluations=args.fake_evaluations, population=20,
                         validate_top=0, baselines=False, samples=False)
    fake_local, _ = search(fake, evaluator=FakeEvaluator())
    fake_local.what = "zero-cost evaluator, in-process"
    fake_ray, _ = search(replace(fake, executor="ray", max_concurrency=1), factory=FakeEvaluator)
    fake_ray.what = "zero-cost evaluator, Ray, 1 actor"

    real = SessionConfig(steps=args.steps, evaluations=args.evaluations, images=args.images,
                         solver=args.solver, device=args.device, batch_size=args.batch_size,
                         population=8, validate_top=0, baselines=False, samples=False)
    started = time.perf_counter()
    evaluator = real.evaluator_factory()()
    load_s = time.perf_counter() - started
    local, local_result = search(real, evaluator=evaluator)
    local.what, local.setup_seconds = f"digits, in-process ({args.device})", load_s
    rows = [fake_local, fake_ray, local]
    if not args.device.startswith("cuda"):  # as a Ray actor runs it: torch on one thread
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        one_thread, _ = search(real, evaluator=evaluator)
        torch.set_num_threads(threads)
        one_thread.what = "digits, in-process, torch on 1 thread (cpu)"
        rows.append(one_thread)
    del evaluator
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()
    on_ray, ray_result = search(replace(real, executor="ray", max_concurrency=args.workers))
    on_ray.what = f"digits, {on_ray.what.removeprefix('Ray, ')} on Ray ({args.device})"
    if started_ray:
        ray.shutdown()

    print(f"\n{args.steps} steps, {args.solver}, {args.images} images per FID, batch "
          f"{args.batch_size}; load average now {os.getloadavg()[0]:.2f}\n")
    print("| search | evaluations | seconds | evaluations/min | ms/evaluation | "
          "driver's own ms/evaluation | set-up s |")
    print("|---|---|---|---|---|---|---|")
    for row in (*rows, on_ray):
        print(row.line())
    n = fake_ray.evaluations
    round_trip = (fake_ray.seconds - fake_ray.driver_seconds) / n
    per_eval = local.seconds / local.evaluations
    driver = on_ray.driver_seconds / on_ray.evaluations
    print(f"\nan actor's wait between two candidates (zero-cost evaluator, 1 actor): "
          f"{fake_ray.seconds / n * 1000:.1f} ms ({fake_ray.driver_seconds / n * 1000:.2f} ms "
          f"driver's own work + {round_trip * 1000:.1f} ms Ray round trip) = "
          f"{fake_ray.seconds / n / 0.4:.1%} of a 0.4 s H200 evaluation")
    print(f"one evaluation in-process {per_eval:.3f} s; on Ray the driver's own work is "
          f"{driver * 1000:.1f} ms per evaluation ({driver / per_eval:.1%} of it); "
          f"Ray / in-process throughput {local.seconds / on_ray.seconds * on_ray.evaluations / local.evaluations:.2f}x")
    same = (local_result["timesteps"], local_result["fid"]) == (ray_result["timesteps"],
                                                                 ray_result["fid"])
    print(f"same answer: {same} ({local_result['timesteps']} fid {local_result['fid']:.3f})")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
