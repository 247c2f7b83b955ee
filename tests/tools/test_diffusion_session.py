"""One search session for every entry point: the same defaults, a store written by one entry
point resumes in another, errors name the field, progress reaches LangChain callbacks."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
from diffusion_fakes import FIDELITIES, FakeEvaluator, FidelityFake
from langchain_core.callbacks import BaseCallbackHandler

from optograph.tools.diffusion.errors import DiffusionInputError
from optograph.tools.diffusion.langchain_tools import SearchScheduleArgs, SearchScheduleTool
from optograph.tools.diffusion.session import SessionConfig, run_session


def test_every_entry_point_has_the_sessions_defaults():
    defaults = SessionConfig()
    fields = SearchScheduleArgs.model_fields
    assert fields["evaluations"].default == defaults.evaluations == 40
    assert fields["population"].default == defaults.population == 20
    assert fields["validate_top"].default == defaults.validate_top
    # 40 evaluations at a population of 20: two generations, the second one bred
    assert (defaults.top_k, defaults.mutants, defaults.crossovers) == (5, 8, 4)
    assert (SessionConfig(population=10).mutants, SessionConfig(population=10).crossovers) == (4, 2)


def test_a_store_written_by_the_session_resumes_in_the_tool_and_back(tmp_path):
    first = run_session(SessionConfig(evaluations=24, validate_top=0, baselines=False),
                        tmp_path, evaluator=FakeEvaluator())
    assert first["evaluated_now"] == 24 and (tmp_path / "result.json").exists()
    evaluator = FakeEvaluator()
    tool = SearchScheduleTool(evaluator=evaluator)
    answer = tool.invoke({"steps": 4, "evaluations": 32, "validate_top": 0, "out": str(tmp_path)})
    assert answer["evaluations"] == 32 and len(evaluator.calls) == 8  # 24 from the store
    again = run_session(SessionConfig(evaluations=32, validate_top=0, baselines=False),
                        tmp_path, resume=True, evaluator=FakeEvaluator())
    assert again["replayed_from_store"] == 32 and again["evaluated_now"] == 0
    assert again["timesteps"] == answer["timesteps"]
    assert json.loads((tmp_path / "result.json").read_text())["evaluations"] == 32


@pytest.mark.parametrize(("change", "field"), [
    ({"steps": 0}, "steps"), ({"evaluations": 0}, "evaluations"), ({"images": 1}, "images"),
    ({"solver": "euler"}, "solver"), ({"macs_budget": -1.0}, "macs_budget"),
    ({"max_concurrency": 2}, "max_concurrency"), ({"executor": "spark"}, "executor"),
    ({"population": 4, "mutants": 8}, "population"),
    ({"fidelities": [64, 16]}, "fidelities"), ({"fidelities": [16, 64], "image_budget": 50},
                                               "image_budget"),
    ({"macs_share": 1.5}, "macs_share"),
])
def test_errors_name_the_field_not_a_flag(tmp_path, change, field):
    with pytest.raises(DiffusionInputError, match=f"^{field}: "):
        run_session(SessionConfig(**change), tmp_path, evaluator=FakeEvaluator())
    assert not (tmp_path / "search.sqlite").exists()  # checked before anything is written


def test_the_tool_reports_progress_through_its_callbacks(tmp_path):
    events: list[tuple[str, Any]] = []

    class Listener(BaseCallbackHandler):
        def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
            events.append((name, data))

    tool = SearchScheduleTool(evaluator=FakeEvaluator())
    tool.invoke({"steps": 4, "evaluations": 12, "out": str(tmp_path)},
                config={"callbacks": [Listener()]})
    assert [data["index"] for _, data in events] == list(range(1, 13))
    assert {name for name, _ in events} == {"diffusion_search_progress"}
    assert all(data["total"] == 12 and data["message"].startswith(f"[{data['index']}/12]")
               for _, data in events)


def test_fidelities_reach_every_entry_point_through_the_session(tmp_path):
    config = SessionConfig(evaluations=12, fidelities=list(FIDELITIES), validate_top=0,
                           baselines=False)
    assert config.images == FIDELITIES[-1]  # the noise bank every fidelity takes from
    direct = run_session(config, tmp_path / "session", evaluator=FidelityFake())
    tool = SearchScheduleTool(evaluator=FidelityFake())
    answer = tool.invoke({"steps": 4, "evaluations": 12, "validate_top": 0,
                          "fidelities": list(FIDELITIES), "out": str(tmp_path / "tool")})
    assert direct["images"] == answer["images"] == FIDELITIES[-1]
    assert direct["images_spent"] <= 12 * FIDELITIES[-1]
    assert (answer["timesteps"], answer["fid"]) == (direct["timesteps"], direct["fid"])
    assert direct["config"]["fidelities"] == list(FIDELITIES)


def test_neighbours_seed_the_first_generation(tmp_path):
    evaluator = FakeEvaluator()
    run_session(SessionConfig(evaluations=4, validate_top=0, baselines=False), tmp_path,
                evaluator=evaluator, neighbours=[[950, 500, 50], [990, 800, 600, 400, 200]])
    assert [c.timesteps for c in evaluator.calls[1:3]] == [(950, 500, 275, 50),
                                                           (990, 600, 400, 200)]


def test_a_skip_set_store_of_the_papers_skip_is_not_resumed(tmp_path):
    # skip sets are scored with reused residuals now (skips.py): a store whose skip sets were
    # scored with zeroed residuals would mix two rules in one ranking
    config = SessionConfig(evaluations=8, validate_top=0, baselines=False, macs_budget=4 * 150.0)
    run_session(config, tmp_path, evaluator=FakeEvaluator())
    store = tmp_path / "search.sqlite"
    with sqlite3.connect(store) as db:  # the identity a store of the previous version holds
        stored = json.loads(db.execute("SELECT value FROM meta WHERE name='config'").fetchone()[0])
        del stored["skips"]
        db.execute("UPDATE meta SET value=? WHERE name='config'", (json.dumps(stored, sort_keys=True),))
    with pytest.raises(DiffusionInputError, match="skips"):
        run_session(config, tmp_path, resume=True, evaluator=FakeEvaluator())
    plain = SessionConfig(evaluations=8, validate_top=0, baselines=False)
    assert "skips" not in plain.identity()  # time-step-only stores resume as before
