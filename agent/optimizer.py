"""The contract every optimizer follows (like a diffusers scheduler): collect feedback on the
parameters, `step()` to change them, `state_dict()` / `load_state_dict()` to save and resume."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any

from optograph.graph.errors import GraphError
from optograph.graph.node import PARAMETER, Node

from .errors import OptimizerError


class Optimizer(ABC):
    """Base of OptoPrime, OPRO and the evolutionary optimizer.

    `parameters` are trainable nodes with distinct names; the name is how replies, saved
    states and candidates refer to a parameter."""

    def __init__(self, parameters: Iterable[Node]) -> None:
        params = list(parameters)
        if not params:
            raise OptimizerError(f"{type(self).__name__}: no parameters to optimize")
        names: set[str] = set()
        for p in params:
            if not isinstance(p, Node) or p.kind != PARAMETER:
                raise OptimizerError(
                    f"{type(self).__name__}: expected parameters (trainable nodes); got {p!r:.80}"
                )
            if p.name in names:
                raise OptimizerError(
                    f"{type(self).__name__}: two parameters share the name {p.name!r}"
                )
            names.add(p.name)
        self.parameters: list[Node] = params

    @property
    def parameters_by_name(self) -> dict[str, Node]:
        return {p.name: p for p in self.parameters}

    def zero_feedback(self) -> None:
        """Forget the feedback collected on the parameters (call before each backward)."""
        for p in self.parameters:
            p.zero_feedback()

    @abstractmethod
    def step(self) -> dict[Node, Any]:
        """Propose and apply new values; return the applied updates {parameter: new value}.
        Either every update of the step is applied or none is (then an OptimizerError)."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume, as JSON-serialisable data."""
        return {"type": type(self).__name__}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state_type(self, state)

    def values(self) -> dict[str, Any]:
        """The current value of every parameter, by name."""
        return {p.name: p._data for p in self.parameters}

    def apply(self, updates: Mapping[Node, Any] | Mapping[str, Any]) -> dict[Node, Any]:
        """Set all the updates or none (`apply_updates`)."""
        return apply_updates(self.parameters, updates)


def apply_updates(
    parameters: Iterable[Node], updates: Mapping[Node, Any] | Mapping[str, Any]
) -> dict[Node, Any]:
    """Set every parameter in `updates` (keyed by node or by name) or, if any set fails, put
    back the values set so far and raise OptimizerError: a step applies all or nothing."""
    by_name = {p.name: p for p in parameters}
    resolved: dict[Node, Any] = {}
    for key, value in updates.items():
        param = by_name.get(key.name if isinstance(key, Node) else key)
        if param is None or (isinstance(key, Node) and param is not key):
            name = key.name if isinstance(key, Node) else key
            raise OptimizerError(
                f"update names {name!r}, which is not a parameter of this optimizer "
                f"(known: {', '.join(map(repr, by_name))})"
            )
        resolved[param] = value
    previous: list[tuple[Node, Any]] = []
    try:
        for param, value in resolved.items():
            old = param._data
            param.set(value)
            previous.append((param, old))
    except GraphError as exc:
        for param, old in reversed(previous):
            param.set(old)
        raise OptimizerError(f"update not applied (no parameter changed): {exc}") from None
    return resolved


def check_state_type(optimizer: Optimizer, state: Mapping[str, Any]) -> None:
    if not isinstance(state, Mapping):
        raise OptimizerError(
            f"{type(optimizer).__name__}.load_state_dict: expected a dict; got {type(state).__name__}"
        )
    kind = state.get("type")
    if kind is not None and kind != type(optimizer).__name__:
        raise OptimizerError(
            f"{type(optimizer).__name__}.load_state_dict: the state was saved by {kind}"
        )
