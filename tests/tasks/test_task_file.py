"""Task files: the shipped examples validate, the JSON Schema describes the format, and every
broken file gets one line naming the file, the line and the field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from tasks_paths import BROKEN, EXAMPLES

from optograph.tasks.cli import main
from optograph.tasks.errors import TaskError
from optograph.tasks.prepare import prepare_task
from optograph.tasks.task_file import load_task, task_json_schema

EXPECTED: dict[str, str] = yaml.safe_load((BROKEN / "expected.yaml").read_text())


def test_every_broken_file_has_an_expectation() -> None:
    files = {p.name for p in BROKEN.glob("*.yaml")} - {"expected.yaml"}
    assert files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_file_gives_its_one_line_error(name: str) -> None:
    with pytest.raises(TaskError) as caught:
        prepare_task(load_task(BROKEN / name))
    message = str(caught.value)
    assert "\n" not in message
    assert re.search(EXPECTED[name], message), message


@pytest.mark.parametrize("name", ["not_yaml.yaml", "unknown_field.yaml",
                                  "workflow_module_missing.yaml", "feedback_wrong_signature.yaml"])
def test_cli_validate_reports_without_traceback(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(BROKEN / name)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert re.search(EXPECTED[name], err)


def test_missing_task_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: no such task file" in capsys.readouterr().err


EXAMPLE_FILES = sorted(p.name for p in EXAMPLES.glob("*.yaml"))


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_shipped_examples_validate(name: str) -> None:
    if name.startswith("diffusion"):
        pytest.importorskip("torch", reason="the diffusion example needs the diffusion extra")
    prepared = prepare_task(load_task(EXAMPLES / name))
    assert prepared.task.spec.name
    assert any(p.trainable for p in prepared.task.spec.parameters.values())


def test_validate_command_lists_each_file(capsys: pytest.CaptureFixture[str]) -> None:
    paths = [str(EXAMPLES / n) for n in EXAMPLE_FILES]
    assert main(["validate", *paths]) == 0
    out = capsys.readouterr().out
    assert out.count(": ok (task ") == len(paths)


def test_schema_is_json_schema_of_the_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema == task_json_schema()
    assert set(schema["required"]) >= {"name", "workflow", "parameters", "feedback", "optimizer"}
    assert schema["additionalProperties"] is False
    parameter = schema["$defs"]["ParameterSpec"]["properties"]
    assert {"value", "type", "description", "constraint", "search_space"} <= set(parameter)


def test_schema_accepts_the_examples() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = task_json_schema()
    for name in EXAMPLE_FILES:
        jsonschema.validate(yaml.safe_load((EXAMPLES / name).read_text()), schema)


def test_search_spaces_and_data_are_built(tmp_path: Path) -> None:
    (tmp_path / "wf.py").write_text(
        "import optograph as og\n"
        "def run(a, b, c, example):\n    return og.node(1) + a\n"
        "def fb(out, example):\n    return 1.0\n"
        "def gen(n):\n    return [{'q': i} for i in range(n)]\n"
    )
    (tmp_path / "t.yaml").write_text(
        "name: spaces\nworkflow: wf.py:run\nparameters:\n"
        "  a: {value: 2, type: int, search_space: {int_range: [0, 5], step: 2}}\n"
        "  b: {value: 0.5, type: float, search_space: {float_range: [0, 1]}}\n"
        "  c: {value: red, search_space: {choice: [red, blue]}}\n"
        "data: {generator: wf.py:gen, options: {n: 7}, limit: 5}\n"
        "feedback: {function: wf.py:fb}\noptimizer: {name: evolution}\n"
    )
    prepared = prepare_task(load_task(tmp_path / "t.yaml"))
    assert prepared.examples == [{"q": i} for i in range(5)]
    assert prepared.spaces["a"].validate(4) == 4
    with pytest.raises(ValueError):
        prepared.spaces["b"].validate(1.5)
    assert prepared.spaces["c"].validate("blue") == "blue"
    params = prepared.make_parameters()
    assert params["a"].search_space is prepared.spaces["a"]


def test_the_fid_builtin_is_lower_is_better_without_negating():
    from pydantic import ValidationError

    from optograph.tasks.task_file import FeedbackSpec

    assert FeedbackSpec.model_validate({"builtin": "fid"}).maximize is False
    assert FeedbackSpec.model_validate({"builtin": "exact_match"}).maximize is True
    with pytest.raises(ValidationError, match="lower-is-better"):
        FeedbackSpec.model_validate({"builtin": "fid", "maximize": True})
