"""Multi-fidelity evaluation (an addition to the paper): successive halving over image counts.

Every candidate is scored first on the fewest images (the lowest fidelity); it is re-scored on
the next count only when its score ranks in the best 1/eta of the scores seen so far at its
current count in the same stage (eta = the ratio of the two counts, at least 2: successive
halving, decided candidate by candidate in the generation's order, so the rungs of a
generation can go out as batches: search.py). A candidate's images at a count are the first
images of the noise bank, so every candidate is scored on the same noise and labels at each
fidelity.

The budget is counted in images: `image_budget`, or `evaluations` times the highest fidelity
(image-equivalents of a full evaluation). Scores on different image counts are not compared
with each other (FID is biased upward on fewer images): the evolution ranks candidates by their
lowest-fidelity score, and the answer is the best candidate at the highest fidelity reached."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import DiffusionInputError


def check_fidelities(fidelities: Sequence[int] | None) -> tuple[int, ...] | None:
    """Strictly increasing positive image counts (None: one fidelity, the evaluator's)."""
    if fidelities is None:
        return None
    values = tuple(fidelities)
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
        raise DiffusionInputError("fidelities", f"must be positive integers; got {list(values)}")
    if any(b <= a for a, b in zip(values, values[1:], strict=False)):
        raise DiffusionInputError("fidelities", f"must be strictly increasing; got {list(values)}")
    return values


def total_budget(fidelities: Sequence[int], evaluations: int, image_budget: int | None) -> int:
    """The search's images: `image_budget`, or `evaluations` full evaluations at the highest
    fidelity. A budget that cannot carry one candidate through every fidelity is refused."""
    needed = sum(fidelities)
    if image_budget is None:
        return evaluations * fidelities[-1]
    if isinstance(image_budget, bool) or not isinstance(image_budget, int) or image_budget < needed:
        raise DiffusionInputError(
            "image_budget", f"{image_budget} images cannot score one candidate at every fidelity "
            f"{list(fidelities)} (need at least {needed})")
    return image_budget


@dataclass
class Ladder:
    """One stage's successive-halving rungs: the scores seen at each image count."""

    fidelities: tuple[int, ...]
    rungs: list[list[float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rungs = [[] for _ in self.fidelities]

    def add(self, level: int, score: float) -> bool:
        """Record `score` at rung `level`; whether it earns the next rung."""
        rung = self.rungs[level]
        rung.append(score)
        if level + 1 >= len(self.fidelities) or not math.isfinite(score):
            return False
        eta = max(2.0, self.fidelities[level + 1] / self.fidelities[level])
        better = sum(1 for s in rung if s < score)
        return better < math.ceil(len(rung) / eta)


def fidelity_levels(evaluator: Any, fidelities: tuple[int, ...] | None, store: Any
                    ) -> list[tuple[int, Any]]:
    """(images, scorer) per fidelity. One fidelity without `fidelities`: the evaluator on all
    its images (its `num_images`, else the store's count, else 1 as the unit of the budget).
    With them, `evaluator.at_images(n)`: the same evaluator on the first n images."""
    if fidelities is None:
        count = getattr(evaluator, "num_images", None) or getattr(store, "images", 0) or 1
        return [(int(count), evaluator)]
    return [(n, on_images(evaluator, n)) for n in fidelities]


def on_images(evaluator: Any, count: int) -> Any:
    """`evaluator.at_images(count)`, refused naming the field when it has none."""
    at_images = getattr(evaluator, "at_images", None)
    if not callable(at_images):
        raise DiffusionInputError("fidelities", f"{type(evaluator).__name__} cannot score on "
                                  "fewer images (it has no at_images)")
    return at_images(count)


def candidate_cost(fidelities: Sequence[int]) -> int:
    """The expected images per candidate: every one at the lowest fidelity, a 1/eta share
    promoted at each rung."""
    share, cost = 1.0, float(fidelities[0])
    for low, high in zip(fidelities, fidelities[1:], strict=False):
        share /= max(2.0, high / low)
        cost += share * high
    return max(1, round(cost))
