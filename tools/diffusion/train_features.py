"""Train the shipped FID feature network on the digits train split.

    python -m optograph.tools.diffusion.train_features [--out PATH] [--epochs N]

About a minute on a laptop CPU. Small random shifts and noise make the features respond to
what generated digits get wrong (blur, noise, misplaced strokes) and not only to the class."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from .data import load_digits_images
from .features import DIGITS_FEATURES_FILE, DigitsClassifier


def _augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    shifts = torch.randint(-1, 2, (2,), generator=generator).tolist()
    images = torch.roll(images, shifts=(shifts[0], shifts[1]), dims=(2, 3))
    noise = torch.randn(images.shape, generator=generator) * 0.05
    return (images + noise).clamp(-1.0, 1.0)


def train_features(epochs: int = 30, seed: int = 0, out: Path | None = None) -> tuple[Path, float]:
    """Train, report test accuracy, save safetensors; returns (path, test accuracy)."""
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    train_x, train_y = load_digits_images(split="train")
    test_x, test_y = load_digits_images(split="test")
    model = DigitsClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(train_x), generator=generator)
        for start in range(0, len(order), 64):
            batch = order[start:start + 64]
            loss = F.cross_entropy(model(_augment(train_x[batch], generator)), train_y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if epoch % 5 == 4 or epoch == epochs - 1:
            print(f"epoch {epoch + 1}/{epochs} loss {loss.item():.4f}", flush=True)
    model.eval()
    with torch.no_grad():
        accuracy = (model(test_x).argmax(1) == test_y).float().mean().item()
    path = Path(out) if out is not None else DIGITS_FEATURES_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path, accuracy


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    path, accuracy = train_features(args.epochs, args.seed, args.out)
    print(f"saved {path} (test accuracy {accuracy:.3f}, {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
