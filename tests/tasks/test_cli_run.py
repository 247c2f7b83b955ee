"""`optograph run` on every example with scripted models, then `runs`, `show` and resume:
the behaviour users rely on (steps stored, target stops the run, best parameters printed,
a run continues where it stopped, bad run folders get one line and exit 2)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tasks_paths import EXAMPLES, scripted

from optograph.tasks.cli import main
from optograph.tasks.run_view import RunView


def _evaluations(steps: list[Any]) -> list[tuple[Any, ...]]:
    return [(r.step, r.values, r.score, r.feedback, r.graph_dot) for r in steps]


def run_cli(*args: str) -> int:
    return main(["run", *args])


def only_run(store: Path) -> Path:
    runs = [p for p in store.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def test_numeric_example_reaches_its_target(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli(str(EXAMPLES / "numeric.yaml"), "--store", str(store),
                   "--llm", scripted("numeric_optimizer"))
    assert code == 0
    out, err = capsys.readouterr()
    assert "target 50 reached" in out and "x = 5.0" in out
    assert (only_run(store) / "report.html").is_file() and "report: " in out
    assert "score 6 best 6" in err  # the progress line of step 0
    view = RunView.load(only_run(store))
    assert [r.score for r in view.steps] == [6.0, 90.0]
    assert view.steps[0].updates == {"x": 5.0}
    assert view.status.startswith("stopped: target")
    assert view.calls and "#Variables" in view.calls[0].prompt
    assert view.totals()["tokens"] > 0


def test_prompt_example_uses_the_data_and_the_workflow_llm(store: Path) -> None:
    assert run_cli(str(EXAMPLES / "prompt_qa.yaml"), "--store", str(store),
                   "--llm", scripted("prompt_optimizer")) == 0
    view = RunView.load(only_run(store))
    assert [r.score for r in view.steps] == [0.0, 1.0]
    assert "expected 'Paris'" in view.steps[0].feedback
    assert view.best()[1]["prompt"] == "Answer with only the name of the city."
    roles = {c.role for c in view.calls}
    assert roles == {"optimizer", "workflow"}


def test_code_example_is_fixed_until_its_tests_pass(store: Path) -> None:
    assert run_cli(str(EXAMPLES / "code_fix.yaml"), "--store", str(store),
                   "--llm", scripted("code_optimizer")) == 0
    view = RunView.load(only_run(store))
    scores = [r.score for r in view.steps]
    assert scores[0] < 1.0 and scores[-1] == 1.0
    assert "tests pass" in view.steps[0].feedback
    assert "def strange_sort_list" in view.best()[1]["code"]


def test_unusable_replies_leave_parameters_unchanged(store: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(str(EXAMPLES / "numeric.yaml"), "--store", str(store), "--steps", "3",
                   "--llm", scripted("broken_optimizer")) == 0
    view = RunView.load(only_run(store))
    assert len(view.steps) == 3  # two optimizer steps, and the evaluation after the last
    assert all(r.note and r.note.startswith("no update") for r in view.steps[:-1])
    assert all(r.next_values == {"x": -1.0} for r in view.steps)
    # the skipped step's reason is stored per step and shown by `show` and the report
    capsys.readouterr()
    assert main(["show", str(only_run(store))]) == 0
    shown = capsys.readouterr().out
    assert "step    1" in shown and "no usable reply" in shown
    report = (only_run(store) / "report.html").read_text()
    assert "no usable reply" in report


def test_resume_continues_after_the_last_stored_step(store: Path) -> None:
    task = str(EXAMPLES / "numeric.yaml")
    llm = scripted("slow_numeric_optimizer")
    assert run_cli(task, "--store", str(store), "--steps", "2", "--llm", llm) == 0
    folder = only_run(store)
    first = RunView.load(folder)
    assert [r.step for r in first.steps] == [0, 1]
    assert run_cli(task, "--store", str(store), "--steps", "4", "--llm", llm,
                   "--resume", str(folder)) == 0
    resumed = RunView.load(folder)
    assert [r.step for r in resumed.steps] == [0, 1, 2, 3]
    assert resumed.steps[:1] == first.steps[:1]  # nothing stored was lost or rewritten
    # the last evaluation is kept; the optimizer step that follows it is added to its row
    assert _evaluations(resumed.steps[:2]) == _evaluations(first.steps)
    assert resumed.steps[2].values == resumed.steps[1].next_values
    assert resumed.totals()["tokens"] > first.totals()["tokens"]


def test_runs_and_show(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(str(EXAMPLES / "numeric.yaml"), "--store", str(store),
                   "--llm", scripted("numeric_optimizer")) == 0
    folder = only_run(store)
    capsys.readouterr()
    assert main(["runs", "--store", str(store)]) == 0
    listing = capsys.readouterr().out
    assert folder.name in listing and "numeric" in listing
    assert main(["show", folder.name, "--store", str(store)]) == 0
    shown = capsys.readouterr().out
    assert "best score 90" in shown and "x = 5.0" in shown and "step    1" in shown
    assert main(["show", str(folder), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["best_parameters"] == {"x": 5.0} and data["scores"] == [6.0, 90.0]


def test_a_folder_that_is_not_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "plain").mkdir()
    for argv in (["show", str(tmp_path / "plain")], ["report", str(tmp_path / "plain")],
                 ["run", str(EXAMPLES / "numeric.yaml"), "--resume", str(tmp_path / "plain")],
                 ["show", str(tmp_path / "absent")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert "not an optograph run" in err or "no such run folder" in err


def test_a_run_of_another_task_is_refused(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(str(EXAMPLES / "numeric.yaml"), "--store", str(store),
                   "--llm", scripted("numeric_optimizer")) == 0
    folder = only_run(store)
    before = RunView.load(folder).steps
    assert run_cli(str(EXAMPLES / "prompt_qa.yaml"), "--resume", str(folder),
                   "--llm", scripted("prompt_optimizer")) == 2
    assert "belongs to task 'numeric'" in capsys.readouterr().err
    assert RunView.load(folder).steps == before


def test_bad_command_line_values(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["run", str(EXAMPLES / "numeric.yaml"), "--steps", "0"])
    assert caught.value.code == 2
    assert "expected a positive integer" in capsys.readouterr().err
    assert run_cli(str(EXAMPLES / "numeric.yaml"), "--llm", "nosuch:model") == 2
    assert "unknown provider" in capsys.readouterr().err


def test_evolution_task_searches_and_resumes_without_reevaluating(tmp_path: Path) -> None:
    (tmp_path / "wf.py").write_text(
        "import optograph as og\n"
        "CALLS = []\n"
        "@og.bundle()\n"
        "def distance(a, b):\n    return (a - 3) ** 2 + (b + 2) ** 2\n"
        "def run(a, b):\n    CALLS.append(1)\n    return distance(a, b)\n"
        "def fb(out):\n    return float(out)\n"
    )
    (tmp_path / "t.yaml").write_text(
        "name: search\nworkflow: wf.py:run\nparameters:\n"
        "  a: {value: 0, type: int, search_space: {int_range: [-5, 5]}}\n"
        "  b: {value: 0, type: int, search_space: {int_range: [-5, 5]}}\n"
        "feedback: {function: wf.py:fb, maximize: false}\n"
        "optimizer: {name: evolution, options: {population: 10, top_k: 3, mutants: 5, "
        "crossovers: 2}}\nbudget: {evaluations: 25}\n"
    )
    store = tmp_path / "runs"
    assert run_cli(str(tmp_path / "t.yaml"), "--store", str(store)) == 0
    folder = only_run(store)
    first = RunView.load(folder)
    assert len(first.steps) == 25
    assert first.best()[0] == min(r.score for r in first.steps)
    keys = [tuple(r.values.values()) for r in first.steps]
    assert len(set(keys)) == len(keys)  # no candidate evaluated twice
    assert run_cli(str(tmp_path / "t.yaml"), "--store", str(store), "--resume", str(folder),
                   "--steps", "35") == 0
    resumed = RunView.load(folder)
    assert _evaluations(resumed.steps[:25]) == _evaluations(first.steps)  # nothing lost
    keys = [tuple(r.values.values()) for r in resumed.steps]
    assert len(resumed.steps) == 35 and len(set(keys)) == 35


def test_store_survives_a_damaged_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "runs" / "x"
    folder.mkdir(parents=True)
    (folder / "run.sqlite").write_bytes(b"this is not sqlite" * 100)
    assert main(["show", str(folder)]) == 2
    assert "not a run database" in capsys.readouterr().err
    assert main(["runs", "--store", str(tmp_path / "runs")]) == 0
    assert "unreadable" in capsys.readouterr().out


SPACE_MODULE = '''
import random
from dataclasses import dataclass

import optograph as og


@dataclass(frozen=True)
class Pair:
    a: int
    b: int

    def to_dict(self):
        return {"a": self.a, "b": self.b}


class PairSpace:
    def sample(self, rng):
        return Pair(rng.randint(0, 9), rng.randint(0, 9))

    def mutate(self, value, rng):
        return Pair((value.a + rng.choice([-1, 1])) % 10, value.b)

    def crossover(self, x, y, rng):
        return Pair(x.a, y.b)

    def validate(self, value):
        if isinstance(value, dict):
            value = Pair(int(value["a"]), int(value["b"]))
        if not isinstance(value, Pair):
            raise ValueError(f"not a pair: {value!r}")
        return value

    def key(self, value):
        return (value.a, value.b)


def space():
    return PairSpace()


EVALUATED = []


@og.bundle()
def score(pair):
    EVALUATED.append(pair)
    return abs(pair.a - 7) + abs(pair.b - 2)


def run(pair):
    return score(pair)


def fb(out):
    return float(out)
'''


def test_search_values_that_are_objects_are_stored_and_restored(tmp_path: Path) -> None:
    (tmp_path / "pairs.py").write_text(SPACE_MODULE)
    (tmp_path / "t.yaml").write_text(
        "name: pairs\nworkflow: pairs.py:run\nparameters:\n"
        "  pair: {value: {a: 0, b: 0}, search_space: {factory: pairs.py:space}}\n"
        "feedback: {function: pairs.py:fb, maximize: false}\n"
        "optimizer: {name: evolution, options: {population: 8, top_k: 3, mutants: 3, "
        "crossovers: 2}}\nbudget: {evaluations: 12}\n"
    )
    store = tmp_path / "runs"
    assert run_cli(str(tmp_path / "t.yaml"), "--store", str(store)) == 0
    folder = only_run(store)
    first = RunView.load(folder)
    assert first.steps[0].values == {"pair": {"a": 0, "b": 0}}  # stored as its to_dict()
    assert run_cli(str(tmp_path / "t.yaml"), "--store", str(store), "--resume", str(folder),
                   "--steps", "20") == 0
    resumed = RunView.load(folder)
    pairs = [(r.values["pair"]["a"], r.values["pair"]["b"]) for r in resumed.steps]
    assert len(pairs) == 20 and len(set(pairs)) == 20  # the replay evaluated nothing twice


def test_token_budget_stops_the_run(tmp_path: Path) -> None:
    text = (EXAMPLES / "numeric.yaml").read_text().replace("budget:\n  steps: 3",
                                                         "budget:\n  steps: 3\n  tokens: 1")
    task = tmp_path / "numeric.yaml"
    task.write_text(text)
    for name in ("numeric.py",):
        (tmp_path / name).write_text((EXAMPLES / name).read_text())
    store = tmp_path / "runs"
    assert run_cli(str(task), "--store", str(store), "--llm", scripted("slow_numeric_optimizer")) == 0
    view = RunView.load(only_run(store))
    # one optimizer step spends the budget; its proposal is evaluated, then the run stops
    assert len(view.steps) == 2 and view.status.startswith("stopped: token budget 1 spent")


def test_workflow_error_outside_traced_operations(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "wf.py").write_text(
        "import optograph as og\n"
        "def run(x):\n    return {'a': 1}['missing']\n"
        "def fb(out):\n    return 1.0\n"
    )
    (tmp_path / "t.yaml").write_text(
        "name: failing\nworkflow: wf.py:run\nparameters:\n  x: {value: 1.0}\n"
        "feedback: {function: wf.py:fb}\noptimizer: {name: optoprime}\n"
    )
    store = tmp_path / "runs"
    assert run_cli(str(tmp_path / "t.yaml"), "--store", str(store),
                   "--llm", scripted("numeric_optimizer")) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "the workflow failed outside its traced operations: KeyError: 'missing'" in err
    assert "wf.py:3)" in err
    assert RunView.load(only_run(store)).status == "failed"


@pytest.mark.parametrize(("argv", "message"), [
    (["--max-concurrency", "0"], "--max-concurrency: expected a whole number >= 1, got 0"),
    (["--max-concurrency", "-3"], "--max-concurrency: expected a whole number >= 1, got -3"),
    (["--executor", "dask"], "--executor: expected 'local', 'ray' or 'ray://HOST:PORT'"),
    (["--executor", "ray://127.0.0.1:1"], "--executor: 'ray://127.0.0.1:1' cannot run a task"),
])
def test_bad_concurrency_settings_are_one_line_errors(store: Path, argv: list[str], message: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(str(EXAMPLES / "numeric.yaml"), "--store", str(store), *argv,
                   "--llm", scripted("numeric_optimizer")) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not store.exists() or not any(store.iterdir())  # no run folder was made


def test_max_concurrency_in_a_task_file_and_on_the_command_line(tmp_path: Path) -> None:
    text = (EXAMPLES / "prompt_qa.yaml").read_text() + "\nmax_concurrency: 0\n"
    bad = tmp_path / "prompt_qa.yaml"
    bad.write_text(text)
    for name in ("prompt_qa.py", "data"):
        source = EXAMPLES / name
        target = tmp_path / name
        if source.is_dir():
            import shutil

            shutil.copytree(source, target)
        else:
            target.write_text(source.read_text())
    assert main(["run", str(bad), "--store", str(tmp_path / "runs")]) == 2
    bad.write_text(text.replace("max_concurrency: 0", "max_concurrency: 4"))
    store = tmp_path / "runs"
    assert run_cli(str(bad), "--store", str(store), "--llm", scripted("prompt_optimizer")) == 0
    parallel = RunView.load(only_run(store))
    other = tmp_path / "seq"
    assert run_cli(str(bad), "--store", str(other), "--max-concurrency", "1",
                   "--llm", scripted("prompt_optimizer")) == 0
    sequential = RunView.load(only_run(other))
    assert [(r.values, r.score, r.feedback) for r in parallel.steps] == [
        (r.values, r.score, r.feedback) for r in sequential.steps]


def test_a_rate_limited_call_is_shown_on_the_progress_line(tmp_path: Path) -> None:
    import io

    from optograph.tasks.progress import ProgressBar

    stream = io.StringIO()
    bar = ProgressBar("numeric", 3, stream, minimize=False, target=50)
    bar.update(1, 6.0, 6.0, 100)
    bar.notify("openai:gpt-4o-mini: rate limited, retrying in 7.3 s")
    assert "numeric: openai:gpt-4o-mini: rate limited, retrying in 7.3 s" in stream.getvalue()
    from optograph.tasks.llm_setup import TaskLLMs

    seen: list[str] = []
    task_llm = TaskLLMs(scripted("numeric_optimizer"), tmp_path, "--llm")
    task_llm.on_retry = seen.append
    assert task_llm.llm("optimizer").on_retry is not None
    task_llm.llm("optimizer").on_retry("m: rate limited, retrying in 1.0 s")
    assert seen == ["m: rate limited, retrying in 1.0 s"]


def _copy_example(name: str, folder: Path, edit: Callable[[str], str]) -> Path:
    import shutil

    for item in (f"{name}.py", "data"):
        source = EXAMPLES / item
        if source.is_dir():
            shutil.copytree(source, folder / item)
        else:
            shutil.copy(source, folder / item)
    task = folder / f"{name}.yaml"
    task.write_text(edit((EXAMPLES / f"{name}.yaml").read_text()))
    return task


def test_a_validation_split_chooses_the_best_and_the_report_shows_both(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    task = _copy_example("prompt_qa", tmp_path, lambda text: text.replace(
        "  batch_size: 4", "  batch_size: 2\n  validation_size: 3"))
    store = tmp_path / "runs"
    assert run_cli(str(task), "--store", str(store), "--llm", scripted("prompt_optimizer")) == 0
    assert "best score on the validation split 1 (higher is better" in capsys.readouterr().out
    view = RunView.load(only_run(store))
    assert [r.score for r in view.steps] == [0.0, 1.0]  # on the 3 held-out capitals
    assert [view.train_scores[r.step] for r in view.steps] == [0.0, 1.0]  # on 2 of the 5 others
    report = (only_run(store) / "report.html").read_text()
    assert "validation score" in report and "train score" in report
    (tmp_path / "bad").mkdir()
    bad = _copy_example("prompt_qa", tmp_path / "bad", lambda text: text.replace(
        "  batch_size: 4", "  validation_size: 8"))
    assert main(["run", str(bad), "--store", str(store)]) == 2
    assert "data.validation_size (8) leaves no training example of 8" in capsys.readouterr().err
