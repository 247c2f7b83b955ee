"""`optograph report RUN` writes one HTML file with the score plot, the graph of the last step
(SVG through Graphviz when `dot` is on PATH, Mermaid otherwise), the final parameters, the
optimizer's prompts and replies, and the token totals."""

from __future__ import annotations

import base64
import os
import re
import stat
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
    # the graph of the last step: foobar's operations, as a Mermaid flowchart without dot
    assert '<pre class="mermaid">flowchart TD' in html
    assert "x&lt;br/&gt;5.0" in html and "mul&lt;br/&gt;90.0" in html and "bar&lt;br/&gt;" in html
    assert "Best parameters" in html and "Next candidate" in html and "5.0" in html
    assert "#Variables" in html  # the optimizer's prompt
    assert "suggestion" in html  # its reply
    assert re.search(r"<th>tokens</th><td>[1-9]\d*</td>", html)


def test_report_uses_graphviz_svg_when_dot_is_installed(
    finished_run: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_dot = bin_dir / "dot"
    # a stand-in for Graphviz: it must receive DOT text on stdin and answer SVG
    fake_dot.write_text(
        "#!/bin/sh\nread first\n"
        'case "$first" in digraph*) echo \'<?xml version="1.0"?><svg id="from-dot"></svg>\';; '
        "*) exit 1;; esac\n"
    )
    fake_dot.chmod(fake_dot.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "r.html"
    assert main(["report", str(finished_run), "--out", str(out)]) == 0
    html = out.read_text()
    assert '<svg id="from-dot"></svg>' in html and 'class="mermaid"' not in html


def test_report_of_a_run_without_steps(store: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from optograph.tasks.run_store import RunStore

    run = RunStore.create(store, "empty", EXAMPLES / "numeric.yaml", "name: empty\n")
    run.close()
    _no_dot(monkeypatch, tmp_path)
    assert main(["report", str(run.folder)]) == 0
    html = (run.folder / "report.html").read_text()
    assert "No step has a score yet." in html and "No graph stored." in html
