"""LangChain tools of the diffusion search, the traced evaluation whose FID is feedback on
the time steps, and LLM-guided evolution with a scripted chat model."""

from __future__ import annotations

import json

import pytest
from diffusion_fakes import FIDELITIES, BankedFake, FakeEvaluator, FidelityFake
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from optograph.agent.optoprime import OptoPrime
from optograph.graph.run import Run
from optograph.graph.summary import summarize
from optograph.tools.diffusion.langchain_tools import (
    EvaluateScheduleTool,
    SearchScheduleTool,
    fid_feedback,
    timesteps_parameter,
    traced_evaluation,
)
from optograph.tools.diffusion.llm_guided import compare_guided
from optograph.tools.diffusion.session import SessionConfig, run_session
from optograph.tools.diffusion.store import SearchStore


def reply(timesteps: list[int]) -> str:
    return json.dumps({"reasoning": "move the steps towards the better region", "answer": "",
                       "suggestion": {"timesteps": timesteps}})


def test_evaluate_tool_returns_fid_macs_and_time():
    tool = EvaluateScheduleTool(evaluator=FakeEvaluator())
    assert tool.args_schema.model_json_schema()["required"] == ["timesteps"]
    result = tool.invoke({"timesteps": [899, 620, 310, 40]})
    assert result["fid"] == 0 and result["macs"] == 800 and "seconds" in result
    worse = tool.invoke({"timesteps": [999, 749, 499, 249], "skip_sets": [["mid.resnet.0"], [], [], []]})
    assert worse["fid"] > 0 and worse["macs"] == 800 - 30


def test_evaluate_tool_reports_bad_schedules_as_one_line():
    tool = EvaluateScheduleTool(evaluator=FakeEvaluator())
    for timesteps in ([100, 500, 900], [1000, 5, 1]):
        message = tool.invoke({"timesteps": timesteps})
        assert isinstance(message, str) and message.startswith("timesteps: ")
        assert "\n" not in message
    assert "unknown units" in tool.invoke({"timesteps": [9, 5], "skip_sets": [["x"], []]})


def test_evaluate_tool_scores_on_several_noise_banks():
    tool = EvaluateScheduleTool(evaluator=BankedFake())
    best = [899, 620, 310, 40]
    assert "fids" not in tool.invoke({"timesteps": best})  # the tool's own bank alone
    result = tool.invoke({"timesteps": best, "seeds": [0, 2, 4]})
    assert result["seeds"] == [0, 2, 4] and result["fids"] == [0.0, 1.0, 2.0]
    assert result["fid"] == 1.0 and result["spread"] == 1.0 and result["macs"] == 800
    for seeds, message in (([1, 1], "seeds: each seed once"), ([-1], "seeds: must be between")):
        assert tool.invoke({"timesteps": best, "seeds": seeds}).startswith(message)
    single = EvaluateScheduleTool(evaluator=FakeEvaluator())
    assert single.invoke({"timesteps": best, "seeds": [0, 1]}) == (
        "seeds: this tool's evaluator has a single noise bank")


def test_search_tool_runs_a_resumable_search(tmp_path):
    evaluator = FakeEvaluator()
    tool = SearchScheduleTool(evaluator=evaluator)
    args = {"steps": 4, "evaluations": 30, "population": 10, "out": str(tmp_path)}
    first = tool.invoke(args)
    assert first["evaluations"] == 30 and first["fid"] < 20
    calls = len(evaluator.calls)
    again = tool.invoke(args)  # the store answers everything
    assert len(evaluator.calls) == calls and again["timesteps"] == first["timesteps"]


@pytest.mark.parametrize("exact_steps", [False, True])
def test_search_tool_takes_a_macs_share_and_exact_steps(tmp_path, exact_steps):
    # a missing step costs little here: the fewer full steps win unless exact_steps
    evaluator = FakeEvaluator(missing_step_fid=0.5)
    result = SearchScheduleTool(evaluator=evaluator).invoke(
        {"steps": 4, "evaluations": 40, "population": 10, "macs_share": 0.8,
         "exact_steps": exact_steps, "validate_top": 0, "out": str(tmp_path)})
    assert result["macs"] <= 0.8 * 4 * evaluator.step_macs(())
    assert len(result["timesteps"]) == (4 if exact_steps else 3)
    assert {len(c.timesteps) for c in evaluator.calls} == ({4} if exact_steps else {3, 4})


class ShiftedNoise(FakeEvaluator):
    def __call__(self, schedule):
        result = super().__call__(schedule)
        return type(result)(result.fid + 1.0, result.macs, result.seconds)


class WithValidationNoise(FakeEvaluator):
    """A fake with validation noise, as ScheduleEvaluator has: the same FID plus one."""

    def validation_evaluator(self):
        self.validator = ShiftedNoise()
        return self.validator


def test_search_tool_validates_its_answer_on_other_noise(tmp_path):
    evaluator = WithValidationNoise()
    tool = SearchScheduleTool(evaluator=evaluator)
    result = tool.invoke({"steps": 4, "evaluations": 40, "population": 10, "out": str(tmp_path)})
    assert len(evaluator.validator.calls) == 5 and result["evaluations"] == 40
    assert result["validation_fid"] == result["fid"] + 1.0
    off = tool.invoke({"steps": 4, "evaluations": 40, "population": 10, "validate_top": 0,
                       "out": str(tmp_path / "off")})
    assert off["validation_fid"] is None


def test_fid_feedback_reaches_the_time_steps_and_optoprime_proposes_from_it():
    evaluate = traced_evaluation(EvaluateScheduleTool(evaluator=FakeEvaluator()))
    chat = FakeListChatModel(responses=[reply([100, 500, 900, 950]), reply([880, 600, 320, 60])])
    with Run():
        timesteps = timesteps_parameter([999, 749, 499, 249], 1000)
        output = evaluate(timesteps)
        assert output.kind == "operation" and output.data["fid"] > 0
        output.backward(fid_feedback(output.data))
        assert timesteps.feedback and "FID" in str(timesteps.feedback[0].value)
        summary = summarize([timesteps])
        assert any("evaluate_schedule" in line for line in summary.code)
        optimizer = OptoPrime([timesteps], chat, max_retries=1)
        optimizer.step()  # the ascending proposal violates the constraint and is sent back
    assert timesteps.data == [880, 600, 320, 60]
    better = evaluate(timesteps).data["fid"]
    assert better < output.data["fid"]


def test_llm_guided_evolution_against_plain_at_the_same_evaluations(tmp_path):
    proposals = [[900, 640, 300, 60], [899, 630, 312, 45], [899, 622, 310, 41]]
    chat = FakeListChatModel(responses=[reply(p) for p in proposals])
    config = SessionConfig(steps=4, evaluations=30, population=10, top_k=3, mutants=4,
                           crossovers=2)
    result = compare_guided(FakeEvaluator(), config, chat, rounds=4, folder=tmp_path)
    assert result.plain_calls == result.guided_calls == 30
    assert len(result.llm_fids) == 4 and result.llm_fids[-1] < result.llm_fids[0]
    assert result.guided_fid <= min(result.llm_fids) and result.guided_fid < result.plain_fid


def test_llm_guided_search_takes_the_sessions_fidelities(tmp_path):
    proposals = [[900, 640, 300, 60], [899, 630, 312, 45]]
    chat = FakeListChatModel(responses=[reply(p) for p in proposals])
    config = SessionConfig(steps=4, evaluations=12, population=10, top_k=3, mutants=4,
                           crossovers=2, validate_top=0, baselines=False,
                           fidelities=list(FIDELITIES))
    evaluator = FidelityFake()
    result = run_session(config, tmp_path, evaluator=evaluator, llm=chat, llm_rounds=3)
    assert result["images"] == FIDELITIES[-1] and len(result["llm_fids"]) == 3
    assert {n for _, n in evaluator.scored} == set(FIDELITIES)  # the ladder ran
    store = SearchStore(tmp_path / "search.sqlite", result["config"], resume=True)
    llm_rows = [e for e in store.evaluations() if e.stage == "llm"]
    assert len(llm_rows) == 3 and {e.images for e in llm_rows} == {FIDELITIES[-1]}


@pytest.mark.parametrize("tool_class", [EvaluateScheduleTool, SearchScheduleTool])
def test_tools_have_pydantic_schemas_and_descriptions(tool_class):
    tool = tool_class(evaluator=FakeEvaluator())
    assert tool.description and tool.name.endswith("diffusion_schedule")
    assert "steps" in json.dumps(tool.args_schema.model_json_schema())
