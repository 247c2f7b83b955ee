"""kill -9 in the middle of a run leaves a resumable run: every completed step is kept, and
`--resume` continues after the last one with the stored values."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tasks_paths import EXAMPLES, REPO, scripted

from optograph.tasks.run_view import RunView


def _stored_steps(store: Path) -> tuple[Path | None, int]:
    for folder in store.glob("*"):
        try:
            return folder, len(RunView.load(folder).steps)
        except Exception:  # the database is being created
            return folder, 0
    return None, 0


def _start(args: list[str]) -> subprocess.Popen[bytes]:
    # Ctrl-C as at a terminal: a test run started in the background by a non-interactive shell
    # inherits SIGINT ignored, and so would the run (it then never sees the signal)
    return subprocess.Popen([sys.executable, "-m", "optograph", *args], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def test_kill_9_then_resume(tmp_path: Path) -> None:
    store = tmp_path / "runs"
    task = str(EXAMPLES / "numeric.yaml")
    llm = scripted("slow_numeric_optimizer")  # 0.3 s per optimizer call, never done early
    process = _start(["run", task, "--store", str(store), "--steps", "40", "--llm", llm])
    deadline = time.monotonic() + 60
    folder, count = None, 0
    while time.monotonic() < deadline and count < 3:
        time.sleep(0.2)
        folder, count = _stored_steps(store)
    assert count >= 3, "the run stored no steps"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    assert folder is not None
    killed = RunView.load(folder)
    assert killed.status == "interrupted"  # no live process holds its lock (issue 15)
    kept = len(killed.steps)
    assert kept >= 3
    assert [r.step for r in killed.steps] == list(range(kept))

    done = subprocess.run(
        [sys.executable, "-m", "optograph", "run", task, "--store", str(store),
         "--steps", str(kept + 2), "--llm", llm, "--resume", str(folder)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    resumed = RunView.load(folder)
    assert [r.step for r in resumed.steps] == list(range(kept + 2))
    assert resumed.steps[:kept] == killed.steps
    assert resumed.steps[kept].values == killed.steps[-1].next_values
    assert resumed.status == "finished"


def test_ctrl_c_stops_with_a_resume_hint(tmp_path: Path) -> None:
    store = tmp_path / "runs"
    task = str(EXAMPLES / "numeric.yaml")
    # 150 steps of 0.3 s: the run cannot finish before the signal, even on a busy machine
    process = _start(["run", task, "--store", str(store), "--steps", "150",
                      "--llm", scripted("slow_numeric_optimizer")])
    deadline = time.monotonic() + 180  # a loaded machine starts Python slowly
    count = 0
    while time.monotonic() < deadline and count < 2:
        time.sleep(0.2)
        folder, count = _stored_steps(store)
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)  # it stops after the step in flight
    text = err.decode()
    assert process.returncode == 130
    assert "Traceback" not in text
    assert "--resume" in text
    assert folder is not None and RunView.load(folder).status == "interrupted"


def test_resume_keeps_the_options_the_run_was_started_with(tmp_path: Path) -> None:
    """Started with --steps 6 and killed after 3: the printed resume command (no --steps, no
    --llm) runs it to 6, as it was started."""
    store = tmp_path / "runs"
    task = str(EXAMPLES / "numeric.yaml")
    process = _start(["run", task, "--store", str(store), "--steps", "6",
                      "--llm", scripted("slow_numeric_optimizer")])
    deadline = time.monotonic() + 60
    folder, count = None, 0
    while time.monotonic() < deadline and count < 3:
        time.sleep(0.1)
        folder, count = _stored_steps(store)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    assert folder is not None and 3 <= count < 6, count
    done = subprocess.run([sys.executable, "-m", "optograph", "run", task, "--resume", str(folder)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    resumed = RunView.load(folder)
    assert [r.step for r in resumed.steps] == list(range(6)) and resumed.status == "finished"
    assert "6 steps" in done.stdout
