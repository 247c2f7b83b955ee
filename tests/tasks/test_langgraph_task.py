"""LangGraph workflows in task files: the shipped example (a `workflow` function that traces
the graph) and the `{langgraph: builder}` form, both driven by a scripted model."""

from __future__ import annotations

from pathlib import Path

import pytest
from tasks_paths import EXAMPLES, scripted

from optograph.tasks.cli import main
from optograph.tasks.errors import TaskError
from optograph.tasks.prepare import prepare_task
from optograph.tasks.run_view import RunView
from optograph.tasks.task_file import load_task


def test_langgraph_example_improves_its_answer_prompt(store: Path) -> None:
    assert main(["run", str(EXAMPLES / "langgraph_qa.yaml"), "--store", str(store),
                 "--llm", scripted("QAGraphModel")]) == 0
    view = RunView.load(next(store.iterdir()))
    assert [r.score for r in view.steps] == [0.0, 1.0]
    assert "expected 'Paris'" in view.steps[0].feedback
    assert view.steps[0].updates == {
        "answer_prompt": "Answer the {category} question: the plain fact only."}
    # the stored graph holds the traced LangGraph nodes
    assert all(name in view.steps[-1].graph_dot for name in ("classify", "answer", "check"))


def _builder_task(tmp_path: Path, output: str = "answer") -> Path:
    (tmp_path / "fb.py").write_text(
        "def contains(answer, example):\n"
        "    ok = example['answer'].lower() in str(answer).lower()\n"
        "    return (1.0 if ok else 0.0), ('Correct.' if ok else f\"expected {example['answer']}\")\n"
    )
    task = tmp_path / "lg.yaml"
    task.write_text(
        "name: lg_builder\n"
        f"workflow: {{langgraph: '{EXAMPLES / 'langgraph_qa.py'}:build_graph', output: {output}}}\n"
        "parameters:\n"
        "  answer_prompt: {value: 'Answer the {category} question.', type: str}\n"
        "  classify_prompt: {value: 'Pick one of: {categories}.', type: str, trainable: false}\n"
        "  check_prompt: {value: 'Proposed answer: {answer}. Correct?', type: str, trainable: false}\n"
        "  max_retries: {value: 0, type: int, trainable: false}\n"
        f"data: {{file: '{EXAMPLES / 'data' / 'qa_questions.jsonl'}', limit: 2}}\n"
        "feedback: {function: fb.py:contains, target: 1.0}\n"
        "optimizer: {name: optoprime}\nbudget: {steps: 3}\n"
    )
    return task


def test_builder_reference_form(tmp_path: Path) -> None:
    store = tmp_path / "runs"
    assert main(["run", str(_builder_task(tmp_path)), "--store", str(store),
                 "--llm", scripted("QAGraphModel")]) == 0
    view = RunView.load(next(store.iterdir()))
    assert [r.score for r in view.steps] == [0.0, 1.0]
    assert view.best()[1]["answer_prompt"].endswith("the plain fact only.")


def test_builder_output_key_must_exist(tmp_path: Path) -> None:
    prepared = prepare_task(load_task(_builder_task(tmp_path, output="no_such_key")))
    from optograph.tasks.llm_setup import chat_model_from_spec

    model = chat_model_from_spec(scripted("QAGraphModel"), tmp_path, "--llm")
    params = prepared.make_parameters()
    with pytest.raises(TaskError, match="the final state has no key 'no_such_key'"):
        prepared.run_workflow({**params, "llm": model}, prepared.examples[0])
