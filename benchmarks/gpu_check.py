"""GPU check of the diffusion tool-task: the sampler, the skip sets and the FID evaluator on cuda,
and candidate-evaluation throughput against plain batched sampling of the same model.

    python benchmarks/gpu_check.py [--model digits] [--images 2048] [--steps 10]

"Plain batched sampling" is what a diffusers user writes: DDIMScheduler, K steps, the UNet
called on whole batches. "Candidate evaluation" is what the search does per candidate: sampling
the same number of images on a K-step grid through the sampler (skip-set machinery included)
and scoring them by FID. Target: candidate throughput >= 70% of plain sampling (images/s).
Without a CUDA device the script says so and exits 0; `--device cpu` runs the same checks on
the CPU (small sizes) to exercise the script itself.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import torch

TARGET_RATIO = 0.70


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, run: Callable[[], object], repeats: int) -> float:
    """Best wall-clock seconds of `repeats` runs after one warm-up run."""
    run()
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        _sync(device)
        best = min(best, time.perf_counter() - started)
    return best


def check(name: str, ok: bool, detail: str) -> bool:
    print(f"  [{'ok' if ok else 'FAIL'}] {name}: {detail}", flush=True)
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", default="digits")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--images", type=int, default=2048, help="images per candidate")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: no CUDA device; nothing checked (run it on a machine with a GPU, or "
              "pass --device cpu to exercise the script)")
        return 0

    from diffusers import DDIMScheduler

    from optograph.tools.diffusion.evaluator import build_evaluator
    from optograph.tools.diffusion.macs import measure_macs
    from optograph.tools.diffusion.model import load_model
    from optograph.tools.diffusion.noise import NoiseBank
    from optograph.tools.diffusion.sampler import baseline_timesteps, sample, sample_baseline
    from optograph.tools.diffusion.search_space import Schedule
    from optograph.tools.diffusion.skips import skippable_units

    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"gpu_check on {name}: model {args.model}, {args.images} images, {args.steps} steps, "
          f"batch {args.batch_size}", flush=True)
    model = load_model(args.model, device=device)
    cpu_model = load_model(args.model, device="cpu")
    small = NoiseBank.for_model(model, 16, seed=1)
    results: list[bool] = []

    print("sampler")
    grid = baseline_timesteps(model, "ddim-trailing", args.steps)
    ours = sample(model, grid, small, clamp=False)
    theirs = sample_baseline(model, "ddim-trailing", args.steps, small, clamp=False)
    gap = (ours - theirs).abs().max().item()
    results.append(check("order-1 solver == DDIMScheduler", gap < 1e-3, f"max |diff| {gap:.2e}"))
    on_cpu = sample(cpu_model, grid, small, clamp=False)
    gap = (ours.cpu() - on_cpu).abs().max().item()
    results.append(check(f"{device.type} == cpu", gap < 5e-2, f"max |diff| {gap:.2e} (TF32 convs)"))
    second = sample(model, grid, small, solver="dpmpp2m")
    results.append(check("dpmpp2m finite", bool(torch.isfinite(second).all()), str(tuple(second.shape))))

    print("skip sets")
    names = [u.name for u in skippable_units(model.unet)]
    empty = sample(model, grid, small, skip_sets=[()] * len(grid), clamp=False)
    gap = (empty - ours).abs().max().item()
    results.append(check("empty skip sets change nothing", gap <= 1e-6, f"max |diff| {gap:.1e}"))
    skip_sets = [tuple(names[::3]) if i % 2 else () for i in range(len(grid))]
    skipped = sample(model, grid, small, skip_sets=skip_sets)
    results.append(check("skip sets change samples", not torch.allclose(skipped, ours.clamp(-1, 1)),
                         f"{sum(map(len, skip_sets))} unit-steps skipped"))
    table, cpu_table = measure_macs(model), measure_macs(cpu_model)
    results.append(check("MACs table same as on cpu", table == cpu_table,
                         f"full {table.full / 1e6:.2f} M MACs/image-step"))

    print("evaluator")
    evaluator = build_evaluator(model, "digits", device=str(device), num_images=args.images,
                                batch_size=args.batch_size)
    cpu_fid = build_evaluator(cpu_model, "digits", device="cpu", num_images=args.images).fid
    images = evaluator.images(Schedule.full(grid))
    fid_device, fid_cpu = evaluator.fid(images), cpu_fid(images.cpu())
    results.append(check(f"FID on {device.type} == cpu", abs(fid_device - fid_cpu) <= 1e-3 * max(1, fid_cpu),
                         f"{fid_device:.4f} vs {fid_cpu:.4f}"))

    print("throughput")
    plain_noise = evaluator.noise

    @torch.no_grad()
    def plain_sampling() -> None:
        scheduler = DDIMScheduler.from_config(model.scheduler_config, timestep_spacing="trailing",
                                              clip_sample=False)
        for noise, labels in plain_noise.batches(args.batch_size, device):
            scheduler.set_timesteps(args.steps, device=device)
            x = noise
            for t in scheduler.timesteps:
                x = scheduler.step(model.unet(x, t, class_labels=labels).sample, t, x).prev_sample

    plain_s = timed(device, plain_sampling, args.repeats)
    full_s = timed(device, lambda: evaluator(Schedule.full(grid)), args.repeats)
    skip_s = timed(device, lambda: evaluator(Schedule(tuple(grid), tuple(skip_sets))), args.repeats)
    plain_rate, full_rate = args.images / plain_s, args.images / full_s
    ratio = full_rate / plain_rate
    print(f"  plain batched DDIM sampling : {plain_rate:10.0f} images/s ({plain_s:.3f} s)")
    print(f"  candidate evaluation (full) : {full_rate:10.0f} images/s ({full_s:.3f} s, "
          "sampling + FID)")
    print(f"  candidate with skip sets    : {args.images / skip_s:10.0f} images/s ({skip_s:.3f} s)")
    results.append(check("candidate throughput / plain sampling", ratio >= TARGET_RATIO,
                         f"{ratio:.0%} (target >= {TARGET_RATIO:.0%})"))
    print("all checks passed" if all(results) else f"{results.count(False)} check(s) failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
