"""Errors of the LLM layer. Each message is one line naming the model or spec at fault."""

from __future__ import annotations

from optograph.graph.errors import OptographError, RunAbortedError


class LLMConfigError(OptographError):
    """A chat model could not be set up: a missing integration package, model file or key."""


class LLMSpecError(LLMConfigError, ValueError):
    """A model spec that is not understood: an unknown provider or a malformed string."""


class LLMCallError(OptographError):
    """A call to a chat model failed for good (after retries where the failure was transient).

    `model` names the model; the original exception, if any, is the `__cause__`."""

    def __init__(self, message: str, model: str = "") -> None:
        self.model = model
        super().__init__(message)


class CassetteMissError(LLMCallError, RunAbortedError):
    """A cassette in replay mode was asked for a call it never recorded: the run ends (a
    traced operation does not turn it into feedback), and the CLI exits with status 2."""
