"""The first generation's known-good schedules: the solver's built-in grids at K steps
(diffusers' leading, trailing and linspace spacings, Karras and log-SNR sigmas mapped to
integer time steps, UniPC) and the best schedules of searches at K-1 and K+1 steps, resized
to K. The evolution starts from them instead of from random schedules only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .search_space import ScheduleSpace


def known_grids(evaluator: Any, steps: int) -> list[tuple[int, ...]]:
    """The evaluator's built-in grids at `steps` (`known_grids(steps)`; none when it has none)."""
    grids = getattr(evaluator, "known_grids", None)
    return [tuple(int(t) for t in grid) for grid in grids(steps)] if callable(grids) else []


def resize_timesteps(timesteps: Sequence[int], steps: int, num_train_timesteps: int
                     ) -> tuple[int, ...]:
    """`timesteps` (descending) with `steps` entries: the middle of the widest gap (down to
    0) inserted, or the step closest to its lower neighbour dropped, until the count fits."""
    points = sorted({int(t) for t in timesteps if 0 <= int(t) < num_train_timesteps}, reverse=True)
    while len(points) > steps:  # the first and the last step stay
        if len(points) <= 2:
            points.pop()
            continue
        gaps = [points[i] - points[i + 1] for i in range(1, len(points) - 1)]
        del points[1 + gaps.index(min(gaps))]
    while len(points) < steps:
        bounds = [*points, -1] if points else [num_train_timesteps, -1]
        widths = [(bounds[i] - bounds[i + 1], i) for i in range(len(bounds) - 1)]
        width, index = max(widths)
        if width < 2:
            break
        new = bounds[index] - width // 2
        points = sorted({*points, max(0, new)}, reverse=True)
    return tuple(points)


def start_seeds(space: ScheduleSpace, seeds: Sequence[Sequence[int]],
                neighbours: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    """`seeds` then `neighbours` resized to the space's steps: the valid ones, each once."""
    resized = [resize_timesteps(n, space.steps, space.num_train_timesteps) for n in neighbours]
    chosen: list[tuple[int, ...]] = []
    for timesteps in [*(tuple(s) for s in seeds), *resized]:
        try:
            valid = space.validate(list(timesteps)).timesteps
        except (ValueError, TypeError):
            continue
        if valid not in chosen:
            chosen.append(valid)
    return chosen
