"""Issue 15: every hostile or careless input of the catalogue (hostile_cases.py) is handled:
the expected exit status, one `optograph: error:` line saying what and where, no traceback,
nothing stored lost or modified. benchmarks/hostile_inputs.py counts the same cases in
subprocesses (before/after figures)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile_cases import CASES, Case, Scene, judge

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
