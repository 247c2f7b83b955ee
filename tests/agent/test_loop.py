"""The optimization loop: stop rules, the feedback convention, events, and resuming from its
SQLite checkpoint after a crash."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from scripted_chat import ScriptedChat, last_human

import optograph as og
from optograph.agent import EvolutionaryOptimizer, OptimizerError, OptoPrime, optimize
from optograph.graph.search_space import IntRange


def step_toward(target: float) -> Any:
    """A model that reads x from the prompt and moves it 2 toward the target."""

    def script(messages: list[Any]) -> str:
        x = float(re.search(r"\(float\) x = (\S+)", last_human(messages)).group(1))  # type: ignore[union-attr]
        new = min(x + 2, target) if x < target else max(x - 2, target)
        return json.dumps({"reasoning": "move toward the target", "answer": "", "suggestion": {"x": new}})

    return script


@og.bundle()
def loss(v: float) -> float:
    """Squared distance of v to the secret target."""
    return (v - 7) ** 2


def test_stops_at_the_target_and_records_every_evaluation() -> None:
    x = og.node(0.0, trainable=True, name="x")
    events: list[dict[str, Any]] = []
    result = optimize(lambda: loss(x), lambda y: y.data, OptoPrime([x], llm=ScriptedChat(step_toward(7))),
                      steps=20, target=0.0, on_event=events.append, minimize=True)
    assert result.stop_reason == "target 0 reached (score 0)"
    assert result.scores == [49.0, 25.0, 9.0, 1.0, 0.0]
    assert result.steps == 4 and result.best_values == {"x": 7.0} and x.data == 7.0
    assert [e["event"] for e in events[:6]] == [
        "start", "evaluated", "proposing", "applied", "step", "evaluated"]
    stop = {k: events[-1][k] for k in ("event", "reason", "step", "best_score")}
    assert stop == {"event": "stop", "reason": result.stop_reason, "step": 4, "best_score": 0.0}
    assert result.history[1]["values"] == {"x": 2.0} and result.history[0]["updates"] == {"x": 2.0}


def test_stops_after_the_steps_and_keeps_the_best_values() -> None:
    x = og.node(0.0, trainable=True, name="x")
    result = optimize(lambda: loss(x), lambda y: y.data, OptoPrime([x], llm=ScriptedChat(step_toward(30))),
                      steps=5, minimize=True)
    assert result.stop_reason == "5 steps done" and result.steps == 5
    assert result.final_values == {"x": 10.0}
    assert result.best_values == {"x": 6.0} and x.data == 6.0  # restore_best
    x.set(0.0)
    kept = optimize(lambda: loss(x), lambda y: y.data, OptoPrime([x], llm=ScriptedChat(step_toward(30))),
                    steps=5, restore_best=False, minimize=True)
    assert x.data == 10.0 and kept.best_step == 3


def test_stops_without_improvement_and_on_terminate() -> None:
    x = og.node(0.0, trainable=True, name="x")
    result = optimize(lambda: loss(x), lambda y: y.data, OptoPrime([x], llm=ScriptedChat(step_toward(-9))),
                      steps=50, patience=3, minimize=True)
    assert result.stop_reason == "no improvement for 3 evaluations" and result.steps == 3
    done = json.dumps({"reasoning": "good enough", "answer": "TERMINATE", "suggestion": {}})
    result = optimize(lambda: loss(x), lambda y: y.data, OptoPrime([x], llm=ScriptedChat([done])),
                      steps=50, minimize=True)
    assert result.stop_reason == "the optimizer answered TERMINATE" and result.steps == 1


def test_stops_when_the_token_budget_is_spent() -> None:
    x = og.node(0.0, trainable=True, name="x")
    opt = OptoPrime([x], llm=ScriptedChat(step_toward(100)))
    result = optimize(lambda: loss(x), lambda y: y.data, opt, steps=50, max_tokens=1000, minimize=True)
    total = opt.llm.usage.total().total_tokens
    assert result.stop_reason.startswith("token budget 1000 spent")  # type: ignore[union-attr]
    assert total >= 1000 and total - 1000 < total / result.steps  # stopped at the first step over
    assert result.usage["total"]["calls"] == result.steps


@pytest.mark.parametrize(
    ("returned", "score", "text"),
    [
        (4.0, 4.0, "4.0"),
        ("too big", None, "too big"),
        ((4.0, "too big"), 4.0, "score: 4.0; feedback: too big"),
        ({"score": 4, "hint": "smaller"}, 4.0, "score: 4; hint: smaller"),
    ],
)
def test_feedback_convention(returned: Any, score: float | None, text: str) -> None:
    x = og.node(0.0, trainable=True, name="x")
    model = ScriptedChat(step_toward(7))
    result = optimize(lambda: loss(x), lambda y: returned, OptoPrime([x], llm=model), steps=1, minimize=True)
    assert result.history[0]["score"] == score and result.history[0]["feedback"] == text
    assert f"#Feedback\n{text}\n" in last_human(model.calls[0])


def test_bad_feedback_and_bad_workflows_are_reported() -> None:
    x = og.node(0.0, trainable=True, name="x")
    opt = OptoPrime([x], llm=ScriptedChat(step_toward(7)))
    with pytest.raises(OptimizerError, match="feedback function: expected text, a number"):
        optimize(lambda: loss(x), lambda y: None, opt, steps=1, minimize=True)
    with pytest.raises(OptimizerError, match="the workflow must return a node"):
        optimize(lambda: 3, lambda y: 1.0, opt, steps=1, minimize=True)


def test_a_failing_workflow_becomes_feedback_on_the_failing_line() -> None:
    x = og.node(0.0, trainable=True, name="x")

    @og.bundle()
    def checked(v: float) -> float:
        """Inverse of v."""
        return 1 / v

    model = ScriptedChat(step_toward(7))
    result = optimize(lambda: checked(x), lambda y: y.data, OptoPrime([x], llm=model), steps=1, minimize=True)
    first = result.history[0]
    assert first["score"] is None and "ZeroDivisionError" in first["feedback"]
    prompt = last_human(model.calls[0])
    assert "(exception) exception_checked = (ZeroDivisionError)" in prompt
    assert "return 1 / v" in prompt  # the failing line, shown to the optimizer
    assert result.history[1]["score"] == 0.5


def test_the_evolutionary_optimizer_runs_in_the_loop_until_its_search_ends() -> None:
    x = og.node(0, trainable=True, name="x", search_space=IntRange(0, 50))
    opt = EvolutionaryOptimizer([x], population=6, top_k=2, mutants=3, crossovers=1, generations=4)
    result = optimize(lambda: loss(x), lambda y: y.data, opt, steps=100, minimize=True)
    assert result.stop_reason == "the search is complete"
    assert len(opt.history) == 24 and result.steps == 24
    best_values, best_score = min(opt.history, key=lambda item: item[1])
    assert result.best_values == best_values and result.best_score == best_score
    assert x.data == best_values["x"]


CRASH_SCRIPT = """
import json, os, re, signal, sys
sys.path.insert(0, {tests!r})
import optograph as og
from optograph.agent import OptoPrime, optimize
from scripted_chat import ScriptedChat, last_human

KILL = os.environ.get("KILL", "")

def script(messages):
    prompt = last_human(messages)
    x = float(re.search(r"\\(float\\) x = (\\S+)", prompt).group(1))
    if KILL == "model" and x == 4.0:
        os.kill(os.getpid(), signal.SIGKILL)
    return json.dumps({{"reasoning": "r", "answer": "", "suggestion": {{"x": x + 1}}}})

x = og.node(0.0, trainable=True, name="x")

@og.bundle()
def loss(v):
    "Squared distance to 7."
    return (v - 7) ** 2

def feedback(y):
    if KILL == "feedback" and y.data == 4.0:
        os.kill(os.getpid(), signal.SIGKILL)
    return y.data

opt = OptoPrime([x], llm=ScriptedChat(script), memory_size=2)
result = optimize(lambda: loss(x), feedback, opt, steps=7, checkpoint=sys.argv[1], minimize=True)
print(json.dumps({{"history": result.history, "state": result.optimizer_state,
                  "best": result.best_values, "steps": result.steps, "x": x.data,
                  "usage": result.usage["total"]["calls"]}}))
"""


def run_script(script: Path, checkpoint: Path, kill: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KILL": kill}
    return subprocess.run([sys.executable, str(script), str(checkpoint)], capture_output=True,
                          text=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def crash_script(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The script, and what it gives when it runs uninterrupted."""
    folder = tmp_path_factory.mktemp("crash")
    script = folder / "crash.py"
    script.write_text(textwrap.dedent(CRASH_SCRIPT.format(tests=str(Path(__file__).parent))))
    straight = run_script(script, folder / "straight.sqlite")
    assert straight.returncode == 0, straight.stderr
    return script, json.loads(straight.stdout)


# killed in the model call, the resumed loop rebuilds the step's graph before proposing (the
# harder path); killed in the feedback function, it simply reruns the step
@pytest.mark.parametrize("kill_in", ["model", pytest.param("feedback", marks=pytest.mark.slow)])
def test_resume_after_kill_9_gives_the_same_run(
    tmp_path: Path, kill_in: str, crash_script: tuple[Path, dict[str, Any]]
) -> None:
    script, expected = crash_script
    killed = run_script(script, tmp_path / "crash.sqlite", kill=kill_in)
    assert killed.returncode == -9 and killed.stdout == ""
    resumed = run_script(script, tmp_path / "crash.sqlite")
    assert resumed.returncode == 0, resumed.stderr
    got = json.loads(resumed.stdout)
    assert got["history"] == expected["history"]
    assert got["state"]["memory"] == expected["state"]["memory"]  # optimizer memory carried over
    assert got["best"] == expected["best"] == {"x": 7.0} and got["x"] == 7.0
    assert got["steps"] == 7 and got["usage"] == expected["usage"]
    if kill_in == "model":
        again = run_script(script, tmp_path / "crash.sqlite")  # finished: reported, not rerun
        assert json.loads(again.stdout)["history"] == expected["history"]


def test_a_checkpoint_of_other_parameters_is_refused(tmp_path: Path) -> None:
    x = og.node(0.0, trainable=True, name="x")
    path = tmp_path / "c.sqlite"
    optimize(lambda: loss(x), lambda y: y.data, OptoPrime([x], llm=ScriptedChat(step_toward(7))),
             steps=1, checkpoint=path, minimize=True)
    z = og.node(0.0, trainable=True, name="z")
    with pytest.raises(OptimizerError, match=r"holds parameters \['x'\], not \['z'\]"):
        optimize(lambda: loss(z), lambda y: y.data, OptoPrime([z], llm=ScriptedChat([])),
                 steps=1, checkpoint=path, minimize=True)


def test_a_run_that_ended_at_its_step_limit_goes_on_when_more_steps_are_asked(tmp_path: Path) -> None:
    def run(steps: int, path: Path) -> Any:
        with og.Run():
            x = og.node(0.0, trainable=True, name="x")
            return optimize(lambda: loss(x), lambda y: y.data,
                            OptoPrime([x], llm=ScriptedChat(step_toward(30)), memory_size=2),
                            steps=steps, patience=2, checkpoint=path, minimize=True)

    first = run(4, tmp_path / "c.sqlite")  # x = 0, 2, 4, 6, 8: the last one is not better
    assert first.steps == 4 and len(first.history) == 5
    more = run(6, tmp_path / "c.sqlite")
    straight = run(6, tmp_path / "straight.sqlite")
    assert more.history == straight.history and more.steps == 5
    assert more.optimizer_state["memory"] == straight.optimizer_state["memory"]
    assert more.stop_reason == straight.stop_reason == "no improvement for 2 evaluations"


def test_best_of_n_in_the_loop_re_runs_the_workflow() -> None:
    x = og.node(0.0, trainable=True, name="x")
    model = ScriptedChat([json.dumps({"reasoning": "r", "answer": "", "suggestion": {"x": v}})
                          for v in (3, 6, 9, 2)])
    result = optimize(lambda: loss(x), lambda y: y.data, OptoPrime([x], llm=model, candidates=2),
                      steps=2, minimize=True)
    assert [entry["values"]["x"] for entry in result.history] == [0.0, 6.0, 9.0]


def test_a_failed_step_keeps_the_checkpoint_and_a_rerun_resumes_it(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    x = og.node(0.0, trainable=True, name="x")
    good = json.dumps({"reasoning": "r", "answer": "", "suggestion": {"x": 3}})
    failing = OptoPrime([x], llm=ScriptedChat([good, "no idea"]), max_retries=0)
    events: list[dict[str, Any]] = []
    with pytest.raises(OptimizerError, match="no usable reply"):
        optimize(lambda: loss(x), lambda y: y.data, failing, steps=3, checkpoint=path,
                 on_event=events.append, minimize=True)
    assert events[-1]["event"] == "error" and x.data == 3.0  # the first step was applied
    working = OptoPrime([x], llm=ScriptedChat(step_toward(7)))
    result = optimize(lambda: loss(x), lambda y: y.data, working, steps=3, checkpoint=path,
                      on_event=events.append, minimize=True)
    assert [e["event"] for e in events].count("resume") == 1
    assert [entry["values"]["x"] for entry in result.history] == [0.0, 3.0, 5.0, 7.0]
    assert len(working.llm.log) == 2  # the resumed run asked only for the two missing steps
    assert len(working.log) == 3  # the call log of the first run came back with its state


def test_an_interrupted_evolutionary_search_resumes_with_the_same_candidates(tmp_path: Path) -> None:
    def run(path: Path, interrupt_at: int | None) -> Any:
        with og.Run():
            x = og.node(0, trainable=True, name="x", search_space=IntRange(0, 50))
        opt = EvolutionaryOptimizer([x], population=6, top_k=2, mutants=3, crossovers=1,
                                    generations=3, seed=11)
        seen: list[int] = []

        def feedback(y: og.Node) -> float:
            seen.append(x.data)
            if interrupt_at is not None and len(seen) == interrupt_at:
                raise KeyboardInterrupt
            return y.data

        return optimize(lambda: loss(x), feedback, opt, steps=100, checkpoint=path, minimize=True)

    straight = run(tmp_path / "straight.sqlite", None)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "c.sqlite", interrupt_at=8)
    resumed = run(tmp_path / "c.sqlite", None)
    assert resumed.history == straight.history
    assert len(resumed.history) == 19  # 18 candidates, then the best one again
    assert resumed.best_values == straight.best_values


def test_a_kill_between_a_nodes_writes_and_the_next_checkpoint_resumes(tmp_path: Path) -> None:
    """kill -9 after SQLite stored the `record` node's writes but before the checkpoint that
    follows them: LangGraph's snapshot then lists no next node (the step's only task has its
    writes), yet the loop is not done; the resumed loop goes on to its last step."""
    events: list[dict[str, Any]] = []

    def run(path: Path, interrupt_at: int | None) -> Any:
        with og.Run():
            x = og.node(0.0, trainable=True, name="x")

        def feedback(y: og.Node) -> float:
            if interrupt_at is not None and x.data == interrupt_at:
                raise KeyboardInterrupt
            return y.data

        return optimize(lambda: loss(x), feedback, OptoPrime([x], llm=ScriptedChat(step_toward(30))),
                        steps=4, checkpoint=path, minimize=True, on_event=events.append)

    straight = run(tmp_path / "straight.sqlite", None)
    path = tmp_path / "c.sqlite"
    with pytest.raises(KeyboardInterrupt):
        run(path, interrupt_at=4)  # in the third evaluation
    # What the kill leaves on disk: drop every checkpoint after the last one that carries the
    # `record` node's pending writes (the run was killed before the next one was saved).
    with sqlite3.connect(path) as db:
        (last,) = db.execute("SELECT max(checkpoint_id) FROM writes WHERE channel = 'history'").fetchone()
        db.execute("DELETE FROM checkpoints WHERE checkpoint_id > ?", (last,))
        db.execute("DELETE FROM writes WHERE checkpoint_id > ?", (last,))
    events.clear()
    resumed = run(path, None)
    assert resumed.stop_reason == straight.stop_reason == "4 steps done"
    (resume,) = [e for e in events if e["event"] == "resume"]
    assert resume["at"] == ["record"]  # the progress line says where it goes on, never nothing
    assert resumed.history == straight.history
