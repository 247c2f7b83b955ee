"""Optimizers and their LLM copy and pickle: a deep copy (or an unpickled optimizer) holds
copied parameters and steps them alone; a chat model that cannot be copied is refused in one
line naming it; a model given as a spec is re-created."""

from __future__ import annotations

import copy
import json
import pickle
import threading
from typing import Any

import pytest
from scripted_chat import ScriptedChat

import optograph as og
from optograph.agent import LLM, EvolutionaryOptimizer
from optograph.agent.llm.errors import LLMConfigError
from optograph.graph.search_space import IntRange


def reply(suggestion: dict[str, Any]) -> str:
    return json.dumps({"reasoning": "r", "answer": "", "suggestion": suggestion})


def deep(opt: Any) -> Any:
    return copy.deepcopy(opt)


def pickled(opt: Any) -> Any:
    return pickle.loads(pickle.dumps(opt))


@pytest.mark.parametrize("how", [deep, pickled])
def test_a_copied_optoprime_steps_its_own_copied_parameters(how: Any) -> None:
    x = og.node(1.0, trainable=True, name="x")
    opt = og.OptoPrime([x], llm=ScriptedChat([reply({"x": 5.0})]))
    other = how(opt)
    assert other.parameters[0] is not x and other.parameters[0].name == "x"
    other.zero_feedback()
    (other.parameters[0] * 2).backward("make it 10")
    other.step()
    assert other.parameters[0].data == 5.0 and x.data == 1.0


def test_a_shallow_copy_shares_the_parameters() -> None:
    x = og.node(1.0, trainable=True, name="x")
    opt = og.OptoPrime([x], llm="local")
    assert copy.copy(opt).parameters[0] is x


def test_deepcopy_of_an_agent_with_its_optimizer_keeps_them_together() -> None:
    class Agent(og.Module):
        def __init__(self) -> None:
            self.k = og.node(1, trainable=True, name="k")

    agent = Agent()
    opt = og.OPRO(agent.parameters(), llm="local")
    agent2, opt2 = copy.deepcopy((agent, opt))
    assert opt2.parameters == agent2.parameters() and agent2.k is not agent.k


def test_a_spec_model_is_recreated_and_usage_is_shared() -> None:
    llm = LLM("openai:gpt-4o-mini")
    for other in (copy.copy(llm), copy.deepcopy(llm), pickled(llm)):
        assert other.model_name == llm.model_name and other._chat is None
    assert copy.deepcopy(llm).usage is llm.usage


def test_a_chat_model_that_cannot_be_copied_is_refused_in_one_line() -> None:
    chat = ScriptedChat(["a", threading.Lock()])  # type: ignore[list-item]
    opt = og.OptoPrime([og.node(1.0, trainable=True)], llm=chat)
    for how in (deep, pickled):
        with pytest.raises(LLMConfigError) as caught:
            how(opt)
        message = str(caught.value)
        assert "ScriptedChat" in message and "spec" in message and "\n" not in message


def test_the_evolutionary_optimizer_copies() -> None:
    a = og.node(0, trainable=True, name="a", search_space=IntRange(0, 10))
    opt = EvolutionaryOptimizer([a], population=4, top_k=2, mutants=1, crossovers=1)
    for other in (deep(opt), pickled(opt)):
        assert other.parameters[0] is not a and other.parameters[0].search_space is not None
        assert other.state_dict() == opt.state_dict()
