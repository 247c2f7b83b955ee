"""The diffusion search example task, run on a tiny random UNet (the shipped digits model
takes tens of seconds per evaluation on a CPU): the evolutionary optimizer searches schedules,
the FID feedback scores them, and every evaluation is stored and resumable."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from tasks_paths import EXAMPLES

from optograph.tasks.cli import main
from optograph.tasks.run_view import RunView

torch = pytest.importorskip("torch", reason="the diffusion example needs the diffusion extra")


def test_diffusion_example_searches_schedules(tiny_model: Path, tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "diffusion_schedule.py", tmp_path / "diffusion_schedule.py")
    spec = yaml.safe_load((EXAMPLES / "diffusion_search.yaml").read_text())
    fixed = spec["parameters"]
    fixed["model"]["value"] = str(tiny_model)
    fixed["reference"]["value"] = "proxy:5"  # the model's own many-step samples
    fixed["images"]["value"] = 40
    task = tmp_path / "diffusion_search.yaml"
    task.write_text(yaml.safe_dump(spec))
    store = tmp_path / "runs"
    assert main(["run", str(task), "--store", str(store), "--steps", "3"]) == 0
    folder = next(store.iterdir())
    view = RunView.load(folder)
    assert len(view.steps) == 3
    first = view.steps[0]
    assert first.values["schedule"]["timesteps"] == [999, 749, 499, 249]  # uniform DDIM first
    assert all(r.score is not None and r.score > 0 for r in view.steps)  # score = FID
    assert not view.maximize  # lower is better
    assert "FID" in first.feedback
    timesteps = [tuple(r.values["schedule"]["timesteps"]) for r in view.steps]
    assert len(set(timesteps)) == 3
    assert all(list(t) == sorted(t, reverse=True) for t in timesteps)
    assert main(["run", str(task), "--store", str(store), "--steps", "4",
                 "--resume", str(folder)]) == 0
    resumed = RunView.load(folder)
    assert len(resumed.steps) == 4 and resumed.steps[:2] == view.steps[:2]
    # the last stored step's evaluation is kept; the resumed run adds its proposal to it
    kept = resumed.steps[2]
    assert (kept.values, kept.score, kept.feedback) == (
        view.steps[2].values, view.steps[2].score, view.steps[2].feedback)
    assert kept.next_values == resumed.steps[3].values
