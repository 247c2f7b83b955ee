"""A provider outage mid-run: the LLM layer retries, then the run stops with one line and
exit 2, keeping its stored steps; once the provider is back, --resume finishes the run."""

from __future__ import annotations

from pathlib import Path

import pytest
from tasks_paths import EXAMPLES, scripted

from optograph.tasks.cli import main
from optograph.tasks.run_view import RunView


def test_an_outage_stops_the_run_resumably(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    outage = tmp_path / "outage"
    outage.touch()
    monkeypatch.setenv("OPTOGRAPH_TEST_OUTAGE", str(outage))
    store = tmp_path / "runs"
    task = str(EXAMPLES / "numeric.yaml")
    code = main(["run", task, "--store", str(store), "--steps", "3", "--no-report",
                 "--llm", scripted("outage_numeric_optimizer")])
    assert code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "provider outage" in error and error.startswith("optograph: error:")
    (folder,) = store.iterdir()
    stopped = RunView.load(folder)
    # the first evaluation waits in the loop's checkpoint for its proposal (a row is stored
    # once its step is complete: docs/runs.md); the run says it failed
    assert stopped.status == "failed" and stopped.steps == []
    outage.unlink()  # the provider is back
    assert main(["run", task, "--resume", str(folder), "--no-report"]) == 0
    resumed = RunView.load(folder)
    assert [r.step for r in resumed.steps] == [0, 1, 2] and resumed.status == "finished"
    assert resumed.steps[0].values == {"x": -1.0}  # the start value, evaluated before the outage
    assert resumed.steps[0].updates  # and the proposal made once the provider was back
