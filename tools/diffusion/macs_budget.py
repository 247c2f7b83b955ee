"""The MACs budget of a search: the budget a config asks for, whether the search space can
reach it at all (refused up front, naming the field), and how many full-network steps it pays
for (the fewer-steps stage of search.py)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Protocol

from .errors import DiffusionInputError
from .search_space import SkipSet, skipping_steps

if TYPE_CHECKING:  # search.py imports this module
    from .search import CandidateEvaluator, SearchConfig


class StepMacs(Protocol):
    """Anything that knows the MACs of one network call with a skip set (an evaluator)."""

    def step_macs(self, skip_set: SkipSet) -> float: ...


def full_network_macs(evaluator: StepMacs, steps: int) -> float:
    """MACs per image of `steps` steps of the full network (no unit skipped): the 100% that a
    MACs share, a result's `full_network_macs` and the benchmarks' shares are measured against."""
    return steps * evaluator.step_macs(())


def macs_budget_of(config: SearchConfig, evaluator: CandidateEvaluator) -> float | None:
    """The search's MACs budget: config.macs_budget, or config.macs_share of the full
    network's MACs at config.steps."""
    if config.macs_share is None:
        return config.macs_budget
    return config.macs_share * full_network_macs(evaluator, config.steps)


def fewer_full_steps(steps: int, budget: float | None, full_step_macs: float) -> int | None:
    """The most full-network steps that `budget` pays for, when that is fewer than `steps`
    (and at least one); None otherwise."""
    if budget is None or full_step_macs <= 0:
        return None
    fewer = int(math.floor(budget / full_step_macs + 1e-9))
    return fewer if 1 <= fewer < steps else None


def check_budget(evaluator: CandidateEvaluator, steps: int, budget: float | None,
                 max_skip_share: float, field: str = "macs_budget") -> None:
    """A budget below the cheapest schedule the space can reach is refused up front (the
    error names `field`)."""
    if budget is None:
        return
    units = evaluator.units
    most = int(math.floor(max_skip_share * len(units) + 1e-9))
    full_step = evaluator.step_macs(())
    savings = sorted((full_step - evaluator.step_macs((u,)), u) for u in units)
    cheapest_set = tuple(sorted(u for _, u in savings[len(savings) - most:])) if most else ()
    skipping = skipping_steps(steps)
    cheapest = (full_network_macs(evaluator, steps - skipping)
                + skipping * evaluator.step_macs(cheapest_set))
    if budget < cheapest:
        raise DiffusionInputError(
            field, f"{budget:.4g} MACs is below the cheapest {steps}-step schedule "
            f"({cheapest:.4g} MACs; one full step costs {full_step:.4g}, and the "
            "first step runs the full network)")
