"""Re-record the shipped cassettes (tests/tasks/cassettes/) with the embedded local model.

    python tests/tasks/record_cassettes.py                 # every shipped example
    python tests/tasks/record_cassettes.py numeric code_fix

Each example runs with its task file's own defaults (steps, LLM) in record mode into a new
file, is replayed from it (the replay must reproduce the recorded run), and only then
replaces the shipped cassette. Needed whenever the prompts or the call sequence change
(test_cassette_replay.py says so when a cassette no longer replays). Takes minutes per
example on 2 cores; run it with `nice`."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "tasks" / "examples"
CASSETTES = Path(__file__).resolve().parent / "cassettes"
TASKS = ("numeric", "prompt_qa", "code_fix", "langgraph_qa")


def _run(task: str, cassette: Path, mode: str, store: Path) -> list[tuple[object, object]]:
    from optograph.tasks.cli import main
    from optograph.tasks.run_view import RunView

    code = main(["run", str(EXAMPLES / f"{task}.yaml"), "--store", str(store), "--cassette",
                 str(cassette), "--cassette-mode", mode, "--no-report"])
    if code != 0:
        raise SystemExit(f"{task}: the {mode} run exited with status {code}")
    view = RunView.load(next(store.iterdir()))
    return [(json.dumps(r.values, sort_keys=True, default=repr), r.score) for r in view.steps]


def record(task: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        fresh = Path(folder) / f"{task}.jsonl"
        started = time.monotonic()
        recorded = _run(task, fresh, "record", Path(folder) / "record")
        seconds = time.monotonic() - started
        replayed = _run(task, fresh, "replay", Path(folder) / "replay")
        if replayed != recorded:
            raise SystemExit(f"{task}: the replay differs from the recorded run; not saved")
        CASSETTES.mkdir(parents=True, exist_ok=True)
        fresh.replace(CASSETTES / f"{task}.jsonl")
    calls = len((CASSETTES / f"{task}.jsonl").read_text().splitlines())
    print(f"{task}: {len(recorded)} steps, {calls} calls, recorded in {seconds:.0f} s", flush=True)


def main(argv: list[str]) -> None:
    tasks = argv or list(TASKS)
    unknown = [t for t in tasks if not (EXAMPLES / f"{t}.yaml").is_file()]
    if unknown:
        raise SystemExit(f"unknown example(s): {', '.join(unknown)}; known: {', '.join(TASKS)}")
    for task in tasks:
        record(task)


if __name__ == "__main__":
    main(sys.argv[1:])
