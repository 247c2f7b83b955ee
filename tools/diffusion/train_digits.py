"""Train the project's shipped diffusion model: a small class-conditional DDPM on the digits.

    python -m optograph.tools.diffusion.train_digits --out DIR --minutes 20

The run is bounded by wall-clock time (the learning rate follows a cosine over that time), keeps
an exponential moving average of the weights, and writes a diffusers folder (unet/ + scheduler/,
loadable with `from_pretrained`) plus a PNG grid of samples drawn from the EMA weights.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DModel

from .data import IMAGE_SIZE, load_digits_images

NUM_CLASSES = 10
NUM_TRAIN_TIMESTEPS = 1000


def build_unet() -> UNet2DModel:
    """The shipped architecture: ~1.6 M parameters, ~94 M MACs per 16x16 image."""
    return UNet2DModel(
        sample_size=IMAGE_SIZE,
        in_channels=1,
        out_channels=1,
        layers_per_block=2,
        block_out_channels=(32, 64, 64),
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=8,
        attention_head_dim=32,
        num_class_embeds=NUM_CLASSES,
    )


def build_scheduler() -> DDPMScheduler:
    # clip_sample=False: samplers built from this config are then exact DDIM / DPM-Solver.
    return DDPMScheduler(
        num_train_timesteps=NUM_TRAIN_TIMESTEPS,
        beta_schedule="linear",
        beta_start=1e-4,
        beta_end=0.02,
        prediction_type="epsilon",
        clip_sample=False,
    )


@torch.no_grad()
def sample_grid(unet: UNet2DModel, scheduler: DDPMScheduler, path: Path, steps: int = 50,
                per_class: int = 8, seed: int = 0) -> None:
    """Draw per_class samples of each digit with DDIM(steps) and save them as a PNG grid."""
    from diffusers import DDIMScheduler
    from PIL import Image

    ddim = DDIMScheduler.from_config(scheduler.config, timestep_spacing="trailing")
    ddim.set_timesteps(steps)
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(NUM_CLASSES).repeat_interleave(per_class)
    x = torch.randn(len(labels), 1, IMAGE_SIZE, IMAGE_SIZE, generator=generator)
    unet.eval()
    for t in ddim.timesteps:
        eps = unet(x, t, class_labels=labels).sample
        x = ddim.step(eps, t, x).prev_sample
    images = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)[:, 0]
    rows = images.view(NUM_CLASSES, per_class, IMAGE_SIZE, IMAGE_SIZE)
    grid = rows.permute(0, 2, 1, 3).reshape(NUM_CLASSES * IMAGE_SIZE, per_class * IMAGE_SIZE)
    Image.fromarray(grid.numpy()).resize((per_class * 64, NUM_CLASSES * 64), Image.Resampling.NEAREST).save(path)


def learning_rate(base: float, fraction: float, warmup: float = 0.03) -> float:
    if fraction < warmup:
        return base * fraction / warmup
    progress = min(1.0, (fraction - warmup) / (1.0 - warmup))
    return base * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def train(out: Path, minutes: float, batch_size: int = 64, lr: float = 2e-3, ema_decay: float = 0.998,
          seed: int = 0, threads: int | None = None, init: Path | None = None) -> Path:
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    images, labels = load_digits_images(split="train")
    # init: continue from the weights of an earlier run (its EMA weights, saved in unet/).
    unet = UNet2DModel.from_pretrained(init / "unet", low_cpu_mem_usage=False) if init else build_unet()
    ema = copy.deepcopy(unet).requires_grad_(False)
    scheduler = build_scheduler()
    alphas_cumprod = scheduler.alphas_cumprod
    optimizer = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=0.0)
    n_params = sum(p.numel() for p in unet.parameters())
    print(f"training {n_params / 1e6:.2f} M parameters on {len(images)} digits for {minutes} min",
          flush=True)

    budget_s = minutes * 60.0
    start = time.monotonic()
    step, running = 0, 0.0
    while (elapsed := time.monotonic() - start) < budget_s:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(lr, elapsed / budget_s)
        index = torch.randint(0, len(images), (batch_size,))
        x0, y = images[index], labels[index]
        t = torch.randint(0, NUM_TRAIN_TIMESTEPS, (batch_size,))
        noise = torch.randn_like(x0)
        a = alphas_cumprod[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        loss = F.mse_loss(unet(xt, t, class_labels=y).sample, noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimizer.step()
        # Short runs: warm the EMA up so early weights do not dominate.
        decay = min(ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), unet.parameters(), strict=True):
                pe.lerp_(p, 1 - decay)
        step += 1
        running = loss.item() if step == 1 else 0.98 * running + 0.02 * loss.item()
        if step % 50 == 0:
            print(f"step {step:6d}  {elapsed / 60:5.1f}/{minutes} min  loss {running:.4f}  "
                  f"lr {optimizer.param_groups[0]['lr']:.2e}", flush=True)

    out.mkdir(parents=True, exist_ok=True)
    ema.save_pretrained(out / "unet", safe_serialization=True)
    scheduler.save_pretrained(out / "scheduler")
    print(f"saved {out} after {step} steps (loss {running:.4f})", flush=True)
    sample_grid(ema, scheduler, out / "samples.png")
    print(f"wrote {out / 'samples.png'}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, required=True, help="output diffusers folder")
    parser.add_argument("--minutes", type=float, default=20.0, help="wall-clock training budget")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", type=Path, default=None, help="continue from this folder's unet/")
    # One thread: on a shared machine more threads oversubscribe the cores and run slower.
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.batch_size <= 0:
        print("train_digits: --minutes and --batch-size must be positive", file=sys.stderr)
        return 2
    train(args.out, args.minutes, args.batch_size, args.lr, seed=args.seed, threads=args.threads,
          init=args.init)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
