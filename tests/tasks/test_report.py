"""`optograph report RUN` writes one self-contained HTML file with the score plot, the graph
of the last step (inline SVG drawn by the project: no script, no network, no Graphviz), the
final parameters, the optimizer's prompts and replies, and the token totals."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from tasks_paths import EXAMPLES, scripted

from optograph.tasks.cli import main


@pytest.fixture
def finished_run(store: Path) -> Path:
    assert main(["run", str(EXAMPLES / "numeric.yaml"), "--store", str(store),
                 "--llm", scripted("numeric_optimizer")]) == 0
    return next(store.iterdir())


def _no_dot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_report_embeds_plot_graph_parameters_and_prompts(
    finished_run: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _no_dot(monkeypatch, tmp_path)
    assert main(["report", str(finished_run)]) == 0
    assert "report written to" in capsys.readouterr().out
    html = (finished_run / "report.html").read_text()
    found = re.search(r'id="score-plot" alt="score history" src="data:image/png;base64,([^"]+)"', html)
    assert found, "no embedded plot"
    assert base64.b64decode(found.group(1)).startswith(b"\x89PNG")
    # the graph of the last step: foobar's operations, drawn as inline SVG without dot
    _self_contained(html)
    svg = re.search(r"<svg .*?</svg>", html, re.DOTALL)
    assert svg, "no inline SVG graph"
    boxes = re.findall(r"<text [^>]*font-weight=\"bold\">([^<]*)</text>", svg.group(0))
    assert {"x", "mul", "bar"} <= set(boxes), boxes
    assert ">5.0</text>" in svg.group(0) and ">90.0</text>" in svg.group(0)
    assert "Best parameters" in html and "Next candidate" in html and "5.0" in html
    assert "#Variables" in html  # the optimizer's prompt
    assert "suggestion" in html  # its reply
    assert re.search(r"<th>tokens</th><td>[1-9]\d*</td>", html)


def _self_contained(html: str) -> None:
    """Nothing the page would fetch: no script at all, no remote stylesheet, image or font."""
    assert "<script" not in html
    assert "mermaid" not in html
    assert not re.search(r"""(src|href)=["']?https?:""", html)
    assert not re.search(r"@import|url\(\s*['\"]?https?:", html)


def test_langgraph_report_draws_steps_and_each_steps_operations(
    store: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    _no_dot(monkeypatch, tmp_path)
    assert main(["run", str(EXAMPLES / "langgraph_qa.yaml"), "--store", str(store), "--steps",
                 "1", "--llm", scripted("QAGraphModel")]) == 0
    html = (next(store.iterdir()) / "report.html").read_text()
    _self_contained(html)
    section = html[html.index("Graph of the last step"):html.index("<h2>Steps</h2>")]
    svgs = re.findall(r"<svg .*?</svg>", section, re.DOTALL)
    details = re.findall(r"<details>.*?</details>", section, re.DOTALL)
    assert details and all("<svg " in d for d in details)  # each step's operations
    assert len(svgs) == len(details) + 1
    steps = re.findall(r"<text [^>]*font-weight=\"bold\">([^<]*)</text>", svgs[0])
    # the step-level drawing: one box per LangGraph node run, no operation boxes
    assert {"classify", "answer", "check", "input", "final state"} <= set(steps)
    assert not any(s.endswith(("_state", "_llm")) for s in steps), steps
    assert steps.count("classify") == 3  # one per example of the batch


def test_report_of_a_run_without_steps(store: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from optograph.tasks.run_store import RunStore

    run = RunStore.create(store, "empty", EXAMPLES / "numeric.yaml", "name: empty\n")
    run.close()
    _no_dot(monkeypatch, tmp_path)
    assert main(["report", str(run.folder)]) == 0
    html = (run.folder / "report.html").read_text()
    assert "No step has a score yet." in html and "No graph stored." in html
