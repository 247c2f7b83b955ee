"""Issue 15: every hostile or careless input of the catalogue (hostile_cases.py) is handled:
the expected exit status, one `optograph: error:` line saying what and where, no traceback,
nothing stored lost or modified. benchmarks/hostile_inputs.py counts the same cases in
subprocesses (before/after figures)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from hostile_cases import CASES, MCP_CASES, Case, McpCase, Scene, judge, mcp_scene, mcp_session

from optograph.tasks.cli import main


@pytest.mark.parametrize("case", CASES, ids=[f"{c.category}: {c.name}" for c in CASES])
def test_hostile_input_is_handled(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    if case.needs:
        pytest.importorskip(case.needs)
    monkeypatch.chdir(tmp_path)
    for name, value in case.env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    scene = Scene(tmp_path, main)
    try:
        argv = case.setup(scene)
        capsys.readouterr()  # what the setup printed
        code = main(argv)
        out, err = capsys.readouterr()
        assert judge(case, scene, code, out, err) is None, judge(case, scene, code, out, err)
    finally:
        for cleanup in scene.cleanups:
            cleanup()


@pytest.fixture(scope="module")
def mcp_answers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One MCP session (the real server, on stdio) answering every MCP case."""
    scene = Scene(tmp_path_factory.mktemp("mcp"), main)
    root = mcp_scene(scene)
    return root, mcp_session(sys.executable, root, MCP_CASES)


@pytest.mark.parametrize("case", MCP_CASES, ids=[c.name for c in MCP_CASES])
def test_hostile_mcp_call_is_handled(case: McpCase, mcp_answers: tuple[Path, dict[str, Any]]
                                     ) -> None:
    if case.needs:
        pytest.importorskip(case.needs)
    root, answers = mcp_answers
    problem = case.check(answers[case.name], root)
    assert problem is None, problem
