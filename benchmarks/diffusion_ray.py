"""The diffusion search on Ray against in-process, in one run (python benchmarks/diffusion_ray.py).

1. Driver overhead: a search whose evaluator costs nothing (a fake FID), in-process and on one
   Ray actor: seconds per evaluation = what the driver and Ray add to each candidate (the
   search, the store, the round trip to the actor). It must stay well under the 0.4 s one
   evaluation takes on an H200 for one GPU actor to be kept busy.
2. The shipped digits model (4 steps, `--images` per FID): evaluations per minute in-process
   and with `--workers` Ray actors on this machine (actors load the model once; the start-up
   is reported apart)."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "tools"))

from diffusion_fakes import FakeEvaluator  # noqa: E402

from optograph.tools.diffusion.session import SessionConfig, run_session  # noqa: E402


def timed(config: SessionConfig, **kwargs: object) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory(prefix="optograph-ray-bench-") as folder:
        started = time.perf_counter()
        result = run_session(config, folder, **kwargs)  # type: ignore[arg-type]
        return time.perf_counter() - started, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--evaluations", type=int, default=16)
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fake-evaluations", type=int, default=200)
    args = parser.parse_args()
    import ray

    ray.init(include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {
        "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "tests" / "tools")}})
    cpus = int(ray.cluster_resources().get("CPU", 0))
    print(f"Ray {ray.__version__}, {cpus} CPUs in the local cluster")

    fake = SessionConfig(steps=4, evaluations=args.fake_evaluations, population=20,
                         validate_top=0, baselines=False, samples=False)
    _, fake_local = timed(fake, evaluator=FakeEvaluator())
    local_s = fake_local["search_seconds"]
    fake_ray = SessionConfig(**{**fake.__dict__, "executor": "ray", "max_concurrency": 1})
    _, fake_on_ray = timed(fake_ray, factory=FakeEvaluator)
    ray_s = fake_on_ray["search_seconds"]
    n = args.fake_evaluations
    print(f"driver overhead per evaluation (zero-cost evaluator, {n} evaluations, after the "
          f"actor started): in-process {local_s / n * 1000:.1f} ms, Ray 1 actor "
          f"{ray_s / n * 1000:.1f} ms ({ray_s / local_s:.0f}x); "
          f"{ray_s / n / 0.4:.1%} of a 0.4 s GPU evaluation")

    real = SessionConfig(steps=4, evaluations=args.evaluations, images=args.images,
                         population=8, validate_top=0, baselines=False, samples=False)
    from optograph.tools.diffusion.evaluator import build_evaluator

    started = time.perf_counter()
    evaluator = build_evaluator("digits", "digits", "ddim", "cpu", args.images, 0)
    load_s = time.perf_counter() - started
    _, local = timed(real, evaluator=evaluator)
    local_s = local["search_seconds"]
    per_min_local = args.evaluations / local_s * 60
    ray_config = SessionConfig(**{**real.__dict__, "executor": "ray", "device": "cpu",
                                  "max_concurrency": args.workers})
    total_s, on_ray = timed(ray_config)
    ray_s = on_ray["search_seconds"]
    per_min_ray = args.evaluations / ray_s * 60
    print(f"digits, 4 steps, {args.images} images, {args.evaluations} evaluations: in-process "
          f"{per_min_local:.1f} evaluations/min ({local_s:.1f} s, model load {load_s:.1f} s "
          f"apart); Ray {args.workers} actors {per_min_ray:.1f}/min ({ray_s:.1f} s; {total_s:.1f} s "
          f"with the actors' start-up and model load); ratio {per_min_ray / per_min_local:.2f}x")
    same = (local["timesteps"], local["fid"]) == (on_ray["timesteps"], on_ray["fid"])
    print(f"same answer: {same} ({local['timesteps']} fid {local['fid']:.3f})")
    ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
