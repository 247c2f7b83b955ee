"""The hostile and careless inputs of issue 15 as data: each case writes what it needs into a
scratch folder (the working folder of the command) and gives the command line. A case is
handled when the command exits with the expected status, prints no traceback, ends with one
`optograph: error:` line (for status 2) containing what the case expects, and its own check
passes (a file left unchanged, nothing written outside, ...).

Used by tests/tasks/test_hostile_inputs.py (in-process) and benchmarks/hostile_inputs.py
(each case in a subprocess, to count cases handled before and after a change). Setup uses
only the standard library, so it also runs against an older checkout."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTED = HERE / "tasks_scripted_models.py"
NUMERIC_LLM = f"python:{SCRIPTED}:numeric_optimizer"

WORKFLOW = '''
def workflow(x):
    return x * 2


def feedback(output):
    return float(output), "make it larger"
'''


def task_yaml(name: str = "t", extra: str = "", llm: str = NUMERIC_LLM,
              optimizer_options: str = "", maximize: str = "true") -> str:
    return (f"name: {name}\nworkflow: wf.py:workflow\nparameters:\n  x: {{value: 1.0, type: float}}\n"
            f"feedback: {{function: wf.py:feedback, maximize: {maximize}}}\n"
            f"optimizer: {{name: optoprime, llm: '{llm}'{optimizer_options}}}\n"
            f"budget: {{steps: 1}}\nstore: runs\n{extra}")


@dataclass
class Scene:
    """The scratch folder of one case, and how to run a command for setup (a finished run
    to damage, say): `run(argv) -> exit status`."""

    tmp: Path
    run: Callable[[list[str]], int]
    cleanups: list[Callable[[], None]] = field(default_factory=list)
    template: Path | None = None  # a finished run of the base task to copy (saves a run)

    def write(self, name: str, text: str | bytes) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        return path

    def task(self, text: str | None = None, name: str = "task.yaml") -> str:
        self.write("wf.py", WORKFLOW)
        return str(self.write(name, text if text is not None else task_yaml()))

    def finished_run(self) -> Path:
        """A run of the base task, finished (one step)."""
        task = self.task()
        if self.template is not None and self.template.is_dir():
            return Path(shutil.copytree(self.template, self.tmp / "runs" / self.template.name))
        code = self.run(["run", task, "--no-report"])
        runs = [p for p in (self.tmp / "runs").iterdir() if p.is_dir()]
        assert code == 0 and len(runs) == 1, (code, runs)
        return runs[0]


@dataclass
class Case:
    category: str
    name: str
    setup: Callable[[Scene], list[str]]
    code: int = 2
    expect: str = ""  # a part of the error line (status 2) or of stdout (status 0)
    check: Callable[[Scene], str | None] | None = None  # a problem, or None
    env: dict[str, str | None] = field(default_factory=dict)  # None: unset
    needs: str | None = None  # a module the case needs (skipped without it)


CASES: list[Case] = []


def case(category: str, name: str, code: int = 2, expect: str = "",
         check: Callable[[Scene], str | None] | None = None,
         env: dict[str, str | None] | None = None, needs: str | None = None
         ) -> Callable[[Callable[[Scene], list[str]]], Callable[[Scene], list[str]]]:
    def register(setup: Callable[[Scene], list[str]]) -> Callable[[Scene], list[str]]:
        CASES.append(Case(category, name, setup, code, expect, check, env or {}, needs))
        return setup
    return register


# -- 2. task files ---------------------------------------------------------------------------
def _bomb() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(8):
        previous, name = chr(97 + i), chr(98 + i)
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@case("task files", "alias bomb (validate)", expect="aliases expand")
def _(s: Scene) -> list[str]:
    return ["validate", s.task(_bomb())]


@case("task files", "alias bomb (run)", expect="aliases expand")
def _(s: Scene) -> list[str]:
    return ["run", s.task(_bomb())]


@case("task files", "self-referencing alias", expect="alias refers to")
def _(s: Scene) -> list[str]:
    return ["validate", s.task("a: &a [*a]\n")]


@case("task files", "3000-level nesting", expect="nested more than")
def _(s: Scene) -> list[str]:
    return ["validate", s.task("[" * 3000 + "]" * 3000)]


@case("task files", "named pipe as task file", expect="not a regular file")
def _(s: Scene) -> list[str]:
    os.mkfifo(s.tmp / "pipe.yaml")
    return ["validate", str(s.tmp / "pipe.yaml")]


@case("task files", "symlink to /dev/zero as task file", expect="not a regular file")
def _(s: Scene) -> list[str]:
    (s.tmp / "zero.yaml").symlink_to("/dev/zero")
    return ["validate", str(s.tmp / "zero.yaml")]


@case("task files", "task file not UTF-8", expect="not a UTF-8 text file")
def _(s: Scene) -> list[str]:
    s.write("wf.py", WORKFLOW)
    return ["validate", str(s.write("task.yaml", task_yaml().encode() + b"# \xff\xfe\n"))]


def _data_task(s: Scene, data_name: str, data: bytes | None) -> str:
    if data is not None:
        s.write(data_name, data)
    task = s.task(task_yaml(extra=f"data: {{file: {data_name}}}\n").replace(
        "feedback: {function: wf.py:feedback", "feedback: {builtin: numeric_target, "
        "options: {target: 3}"))
    s.write("wf.py", WORKFLOW.replace("def workflow(x):", "def workflow(x, example):"))
    return task


@case("task files", "data file not UTF-8", expect="not a UTF-8 text file")
def _(s: Scene) -> list[str]:
    return ["validate", _data_task(s, "data.jsonl", b'{"a": 1}\n{"b": "\xff"}\n')]


@case("task files", "data file a symlink to /dev/zero", expect="not a regular file")
def _(s: Scene) -> list[str]:
    (s.tmp / "data.json").symlink_to("/dev/zero")
    return ["validate", _data_task(s, "data.json", None)]


@case("task files", "data file (YAML) alias bomb", expect="aliases expand")
def _(s: Scene) -> list[str]:
    return ["validate", _data_task(s, "data.yaml", _bomb().encode())]


@case("task files", "merge key <<: *defaults works", code=0, expect="ok")
def _(s: Scene) -> list[str]:
    text = task_yaml().replace("  x: {value: 1.0, type: float}\n", (
        "  y: &defaults {value: 1.0, type: float, trainable: false}\n"
        "  x:\n    <<: *defaults\n    value: 2.0\n    trainable: true\n"))
    task = s.task(text, "merged.yaml")
    s.write("wf.py", WORKFLOW.replace("def workflow(x):", "def workflow(x, y):"))
    return ["validate", task]


@case("task files", "unknown optimizer option", expect="bad optimizer option")
def _(s: Scene) -> list[str]:
    return ["validate", s.task(task_yaml(optimizer_options=", options: {no_such_option: 1}"))]


@case("task files", "unknown optimizer option (run: no run folder made)",
      expect="bad optimizer option",
      check=lambda s: "a run folder was made" if (s.tmp / "runs").exists() else None)
def _(s: Scene) -> list[str]:
    return ["run", s.task(task_yaml(optimizer_options=", options: {no_such_option: 1}"))]


@case("task files", "unknown LLM provider", expect="unknown provider")
def _(s: Scene) -> list[str]:
    return ["validate", s.task(task_yaml(llm="nosuchprovider:model"))]


@case("task files", "workflow module calls sys.exit(0) on import", expect="SystemExit")
def _(s: Scene) -> list[str]:
    task = s.task()
    s.write("wf.py", "import sys\nsys.exit(0)\n" + WORKFLOW)
    return ["validate", task]


@case("task files", "pytest builtin options.module with ../", expect="options.module",
      check=lambda s: "a file was written outside" if (s.tmp / "escaped.py").exists() else None)
def _(s: Scene) -> list[str]:
    s.write("checks.py", "def test_ok():\n    assert True\n")
    text = task_yaml().replace(
        "feedback: {function: wf.py:feedback, maximize: true}",
        "feedback: {builtin: pytest, options: {tests: checks.py, module: ../../../escaped}}")
    return ["validate", s.task(text.replace("{value: 1.0, type: float}", "{value: 'x = 1', type: code}"))]


@case("task files", "300-character task name", expect="name")
def _(s: Scene) -> list[str]:
    return ["validate", s.task(task_yaml(name="n" * 300))]


@case("task files", "store is a file", expect="is a file")
def _(s: Scene) -> list[str]:
    s.write("runs", "not a folder")
    return ["run", s.task()]


@case("task files", "store under a file", expect="is a file")
def _(s: Scene) -> list[str]:
    s.write("plain", "a file")
    return ["run", s.task(), "--store", str(s.tmp / "plain" / "runs")]


@case("task files", "store not creatable", expect="cannot make")
def _(s: Scene) -> list[str]:
    return ["run", s.task(), "--store", "/proc/optograph-no-such/runs"]


# -- 3. the command line ---------------------------------------------------------------------
def _no_folder(s: Scene) -> str | None:
    runs = s.tmp / "runs"
    return "a run was started" if runs.exists() and any(runs.iterdir()) else None


@case("command line", "--llm openai: without an API key", expect="--llm", check=_no_folder,
      env={"OPENAI_API_KEY": None})
def _(s: Scene) -> list[str]:
    return ["run", s.task(), "--llm", "openai:gpt-4o-mini"]


@case("command line", "--llm local: a missing file", expect="--llm", check=_no_folder)
def _(s: Scene) -> list[str]:
    return ["run", s.task(), "--llm", f"local:{s.tmp / 'missing.gguf'}"]


@case("command line", "--llm local: a garbage file", expect="not a GGUF", check=_no_folder)
def _(s: Scene) -> list[str]:
    s.write("garbage.gguf", os.urandom(4096))
    return ["run", s.task(), "--llm", f"local:{s.tmp / 'garbage.gguf'}"]


@case("command line", "--llm local: a text file", expect="not a GGUF", check=_no_folder)
def _(s: Scene) -> list[str]:
    s.write("model.gguf", "this is a text file, not a model\n")
    return ["run", s.task(), "--llm", f"local:{s.tmp / 'model.gguf'}"]


@case("command line", "--cassette a folder", expect="is a folder", check=_no_folder)
def _(s: Scene) -> list[str]:
    (s.tmp / "cassette").mkdir()
    return ["run", s.task(), "--cassette", str(s.tmp / "cassette")]


@case("command line", "--cassette not JSON", expect="malformed", check=_no_folder)
def _(s: Scene) -> list[str]:
    s.write("c.jsonl", "this is\nnot json\n")
    return ["run", s.task(), "--cassette", str(s.tmp / "c.jsonl")]


@case("command line", "--cassette of the wrong shape", expect="malformed", check=_no_folder)
def _(s: Scene) -> list[str]:
    s.write("c.jsonl", '[1, 2, 3]\n{"key": "k"}\n')
    return ["run", s.task(), "--cassette", str(s.tmp / "c.jsonl")]


@case("command line", "--cassette not writable", expect="cannot be created", check=_no_folder)
def _(s: Scene) -> list[str]:
    s.write("plain", "a file")
    return ["run", s.task(), "--cassette", str(s.tmp / "plain" / "c.jsonl")]


_NOT_A_CASSETTE = "my notes, no newline at the end"


@case("command line", "--cassette an existing one-line file, not a cassette", expect="malformed",
      check=lambda s: None if (s.tmp / "notes.txt").read_text() == _NOT_A_CASSETTE
      else "the file was overwritten")
def _(s: Scene) -> list[str]:
    s.write("notes.txt", _NOT_A_CASSETTE)
    return ["run", s.task(), "--cassette", str(s.tmp / "notes.txt")]


@case("command line", "report --out a folder", expect="is a folder")
def _(s: Scene) -> list[str]:
    (s.tmp / "out").mkdir()
    return ["report", str(s.finished_run()), "--out", str(s.tmp / "out")]


@case("command line", "report --out under a file", expect="is a file")
def _(s: Scene) -> list[str]:
    s.write("plain", "a file")
    return ["report", str(s.finished_run()), "--out", str(s.tmp / "plain" / "r.html")]


@case("command line", "report --out not creatable", expect="cannot make")
def _(s: Scene) -> list[str]:
    return ["report", str(s.finished_run()), "--out", "/proc/optograph-no-such/r.html"]


def _search(*extra: str) -> list[str]:
    return ["diffusion", "search", "--model", "digits", "--steps", "4", "--evaluations", "2",
            "--images", "8", "--validate", "0", "--no-baselines", "--out", "out", *extra]


_TORCH = "torch"


@case("command line", "diffusion search --out a file", expect="--out", needs=_TORCH)
def _(s: Scene) -> list[str]:
    s.write("out", "a file")
    return _search()


@case("command line", "diffusion search --out under a file", expect="--out", needs=_TORCH)
def _(s: Scene) -> list[str]:
    s.write("plain", "a file")
    return [*_search()[:-1], "plain/out"]


@case("command line", "diffusion search --out not creatable", expect="--out", needs=_TORCH)
def _(s: Scene) -> list[str]:
    return [*_search()[:-1], "/proc/optograph-no-such/out"]


@case("command line", "diffusion search --cache under a file", expect="--cache", needs=_TORCH)
def _(s: Scene) -> list[str]:
    s.write("plain", "a file")
    return _search("--cache", "plain/cache")


@case("command line", "diffusion compare --out under a file", expect="--out", needs=_TORCH)
def _(s: Scene) -> list[str]:
    s.write("plain", "a file")
    return ["diffusion", "compare", "--model", "digits", "--steps", "4", "--images", "8",
            "--out", "plain/out"]


for _value, _expect in (("0,-1", "--seeds: must be between"), ("0,x", "--seeds: expected integers"),
                        ("2,2", "--seeds: each seed once")):
    case("command line", f"diffusion compare --seeds {_value}", expect=_expect, needs=_TORCH)(
        lambda s, v=_value: ["diffusion", "compare", "--model", "digits", "--steps", "4",
                             "--images", "8", "--seeds", v])


for _value in ("-1", "2", "nan"):
    case("command line", f"diffusion search --mutation-prob {_value}", expect="--mutation-prob",
         needs=_TORCH)(lambda s, v=_value: _search("--mutation-prob", v))


@case("command line", "diffusion search --batch-size -1", expect="--batch-size", needs=_TORCH)
def _(s: Scene) -> list[str]:
    return _search("--batch-size", "-1")


@case("command line", "diffusion search --seed past 64 bits", expect="--seed", needs=_TORCH)
def _(s: Scene) -> list[str]:
    return _search("--seed", str(2**64 + 5))


@case("command line", "diffusion reference folder of .png files that are not images",
      expect="not a readable image", needs=_TORCH)
def _(s: Scene) -> list[str]:
    for i in range(3):
        s.write(f"ref/{i}.png", f"not an image {i}\n")
    return ["diffusion", "evaluate", "--model", "digits", "--images", "64", "--reference", "ref",
            "--timesteps", "999,500,0"]


@case("command line", "diffusion evaluate --skip-sets of the wrong shape", expect="--skip-sets",
      needs=_TORCH)
def _(s: Scene) -> list[str]:
    return ["diffusion", "evaluate", "--model", "digits", "--images", "8",
            "--timesteps", "999,500,0", "--skip-sets", '{"a": 1}']


# -- 4. run stores ---------------------------------------------------------------------------
def _unchanged(name: str) -> Callable[[Scene], str | None]:
    def check(s: Scene) -> str | None:
        saved = s.tmp / f"{name}.before"
        now = s.tmp / "runs" / name / "run.sqlite"
        return None if saved.read_bytes() == now.read_bytes() else "run.sqlite was modified"
    return check


def _keep(s: Scene, folder: Path) -> None:
    shutil.copyfile(folder / "run.sqlite", s.tmp / f"{folder.name}.before")


def _renamed_run(s: Scene, name: str) -> Path:
    folder = s.finished_run()
    return folder.rename(folder.parent / name)


@case("run stores", "a run killed with -9 is not listed as running", code=0,
      expect="interrupted")
def _(s: Scene) -> list[str]:
    folder = s.finished_run()
    with sqlite3.connect(folder / "run.sqlite") as db:  # what a killed run leaves
        db.execute("UPDATE meta SET value = 'running' WHERE key = 'status'")
    db.close()
    return ["runs", "--store", "runs"]


def _hold_lock(s: Scene, folder: Path) -> None:
    """Another live process holding the run (as a run in progress does)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         f"fd = os.open({str(folder / 'run.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(120)\n"],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    s.cleanups.append(lambda: (holder.kill(), holder.wait()))


@case("run stores", "a second --resume of a run in use", expect="in use by another process")
def _(s: Scene) -> list[str]:
    folder = s.finished_run()
    _hold_lock(s, folder)
    return ["run", str(s.tmp / "task.yaml"), "--resume", str(folder), "--steps", "2",
            "--no-report"]


@case("run stores", "--resume after maximize flipped", expect="feedback.maximize")
def _(s: Scene) -> list[str]:
    folder = s.finished_run()
    s.task(task_yaml(maximize="false"))
    return ["run", str(s.tmp / "task.yaml"), "--resume", str(folder), "--steps", "2",
            "--no-report"]


@case("run stores", "--resume after maximize flipped, --allow-changed-task", code=0,
      expect="steps")
def _(s: Scene) -> list[str]:
    folder = s.finished_run()
    s.task(task_yaml(maximize="false"))
    return ["run", str(s.tmp / "task.yaml"), "--resume", str(folder), "--steps", "2",
            "--no-report", "--allow-changed-task"]


def _garbage_pages(path: Path) -> None:
    data = bytearray(path.read_bytes())
    page = 4096 if len(data) > 8192 else 1024
    data[page:] = os.urandom(len(data) - page)
    path.write_bytes(bytes(data))


def _sql(statement: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        db = sqlite3.connect(path)
        with db:
            db.execute(statement)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
    return damage


DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "garbage pages": (_garbage_pages, "run.sqlite"),
    "values_json not JSON": (_sql("UPDATE steps SET values_json = '{not json'"), "values_json"),
    "optimizer state a JSON list": (_sql("UPDATE steps SET optimizer_state = '[1, 2]'"),
                                    "optimizer_state"),
    "score as text": (_sql("UPDATE steps SET score = 'high'"), "score"),
    "a dropped table": (_sql("DROP TABLE llm_calls"), "llm_calls"),
}


def _damaged(s: Scene, damage: str) -> Path:
    good = _renamed_run(s, "good")
    # a second, damaged run next to the good one
    shutil.copytree(good, good.parent / "damaged")
    folder = good.parent / "damaged"
    for side in folder.glob("run.sqlite-*"):
        side.unlink()
    DAMAGES[damage][0](folder / "run.sqlite")
    _keep(s, folder)
    return folder


for _damage, (_, _word) in DAMAGES.items():
    case("run stores", f"runs lists the others despite: {_damage}", code=0, expect="good",
         check=_unchanged("damaged"))(
        lambda s, d=_damage: (_damaged(s, d), ["runs", "--store", "runs"])[1])
    case("run stores", f"show: {_damage}", expect=_word, check=_unchanged("damaged"))(
        lambda s, d=_damage: ["show", str(_damaged(s, d))])
    case("run stores", f"report: {_damage}", expect=_word, check=_unchanged("damaged"))(
        lambda s, d=_damage: ["report", str(_damaged(s, d))])
    case("run stores", f"resume: {_damage}", expect=_word)(
        lambda s, d=_damage: ["run", str(s.tmp / "task.yaml"), "--resume",
                              str(_damaged(s, d)), "--steps", "2", "--no-report"])


@case("run stores", "show leaves run.sqlite as it was", code=0, expect="best score",
      check=_unchanged("good"))
def _(s: Scene) -> list[str]:
    folder = _renamed_run(s, "good")
    _keep(s, folder)
    return ["show", str(folder)]


def cases_json() -> str:
    """The catalogue, for people: category and name of every case."""
    return json.dumps([{"category": c.category, "name": c.name} for c in CASES], indent=1)


def judge(case: Case, scene: Scene, code: int, out: str, err: str) -> str | None:
    """Why the case is not handled, or None when it is."""
    if "Traceback" in out + err:
        return "a traceback"
    if code != case.code:
        return f"exit status {code}, expected {case.code}: {(err or out).strip()[-300:]}"
    if case.code == 2:
        lines = [line for line in err.strip().splitlines() if line.strip()]
        last = lines[-1] if lines else ""
        if not last.startswith("optograph: error:"):
            return f"no one-line error at the end: {err.strip()[-300:]!r}"
        if case.expect not in last:
            return f"the error does not say {case.expect!r}: {last[:300]}"
    elif case.expect and case.expect not in out:
        return f"the output does not say {case.expect!r}: {out.strip()[-300:]}"
    return case.check(scene) if case.check is not None else None


# -- 6. the MCP server (one session answers every case) --------------------------------------
SECRET = "sk-SECRET-TOKEN-4242"
MARKER = "code-ran.txt"


@dataclass
class McpCase:
    name: str
    params: object  # the params of a tools/call request, as sent
    check: Callable[[dict[str, object], Path], str | None]  # (response, root) -> problem
    needs: str | None = None


def _tool_error(response: dict[str, object], root: Path) -> str | None:
    result = response.get("result")
    if not isinstance(result, dict):
        return f"no tool result: {response}"
    text = json.dumps(result)
    if result.get("isError") is not True:
        return f"isError is not true: {text[:200]}"
    return f"the secret was echoed: {text[:200]}" if SECRET in text else None


def _rpc_error(response: dict[str, object], root: Path) -> str | None:
    error = response.get("error")
    return None if isinstance(error, dict) and error.get("code") == -32602 else f"{response}"


def _and_no(path: str, check: Callable[[dict[str, object], Path], str | None]
            ) -> Callable[[dict[str, object], Path], str | None]:
    def both(response: dict[str, object], root: Path) -> str | None:
        found = (root.parent / path).exists() or (root / MARKER).exists()
        return f"{path} or {MARKER} exists" if found else check(response, root)
    return both


def _valid_without_running(response: dict[str, object], root: Path) -> str | None:
    result = response.get("result")
    text = json.dumps(result)
    if not isinstance(result, dict) or result.get("isError") or '\\"valid\\": true' not in text:
        return f"not valid: {text[:300]}"
    return f"{MARKER} exists: the task's code ran" if (root / MARKER).exists() else None


def _lists_both(response: dict[str, object], root: Path) -> str | None:
    result = response.get("result")
    text = json.dumps(result)
    if not isinstance(result, dict) or result.get("isError"):
        return f"an error: {text[:300]}"
    return None if "good" in text and "damaged" in text and "error" in text else text[:300]


MCP_CASES = [
    McpCase("tools/call with params as a list", ["validate_task", {"path": "x"}], _rpc_error),
    McpCase("tools/call with params as a string", "validate_task", _rpc_error),
    McpCase("validate_task of a file outside --root (holding a secret)",
            {"name": "validate_task", "arguments": {"path": "../outside/secret.yaml"}},
            _tool_error),
    McpCase("validate_task of an absolute path outside --root",
            {"name": "validate_task", "arguments": {"path": "OUTSIDE/secret.yaml"}}, _tool_error),
    McpCase("validate_task runs no task code",
            {"name": "validate_task", "arguments": {"path": "marker_task.yaml"}},
            _valid_without_running),
    McpCase("run_task of a task whose workflow lies outside --root",
            {"name": "run_task", "arguments": {"path": "escaping_task.yaml"}},
            _and_no("outside/" + MARKER, _tool_error)),
    McpCase("show_run of ../..", {"name": "show_run", "arguments": {"run": "../.."}},
            _tool_error),
    McpCase("list_tasks of /etc", {"name": "list_tasks", "arguments": {"folder": "/etc"}},
            _tool_error),
    McpCase("list_runs with one damaged run", {"name": "list_runs", "arguments": {}},
            _lists_both),
    McpCase("search_diffusion_schedule out outside --root",
            {"name": "search_diffusion_schedule",
             "arguments": {"steps": 4, "evaluations": 2, "out": "../outside/search"}},
            _and_no("outside/search", _tool_error), needs="torch"),
    McpCase("search_diffusion_schedule steps=0",
            {"name": "search_diffusion_schedule", "arguments": {"steps": 0}}, _tool_error,
            needs="torch"),
    McpCase("evaluate_diffusion_schedule time step out of range",
            {"name": "evaluate_diffusion_schedule", "arguments": {"timesteps": [5000, 10]}},
            _tool_error, needs="torch"),
]


def mcp_scene(s: Scene) -> Path:
    """The served folder (s.tmp/root) and a folder outside it, with what the cases name."""
    root, outside = s.tmp / "root", s.tmp / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.yaml").write_text(f"token: {SECRET}\n")
    (outside / "wf.py").write_text(f"open({str(outside / MARKER)!r}, 'w').close()\n" + WORKFLOW)
    (root / "wf.py").write_text(f"open({str(root / MARKER)!r}, 'w').close()\n" + WORKFLOW)
    (root / "marker_task.yaml").write_text(task_yaml(llm="local"))
    (root / "escaping_task.yaml").write_text(
        task_yaml().replace("wf.py:", "../outside/wf.py:"))
    cwd = Path.cwd()
    os.chdir(root)
    try:  # a good and a damaged run in root/runs (made without the marker workflow)
        scene = Scene(root / "made", s.run, template=s.template)
        scene.tmp.mkdir()
        os.chdir(scene.tmp)
        folder = scene.finished_run()
        (root / "runs").mkdir()
        good = shutil.copytree(folder, root / "runs" / "good")
        damaged = shutil.copytree(folder, root / "runs" / "damaged")
        _sql("UPDATE steps SET score = 'high'")(damaged / "run.sqlite")
        del good
    finally:
        os.chdir(cwd)
    return root


def mcp_session(python: str, root: Path, cases: list[McpCase], timeout_s: float = 900
                ) -> dict[str, dict[str, object]]:
    """Send every case's tools/call to `python -m optograph mcp --root ROOT` (started in
    another folder) and collect the responses by case name (a missing one: no answer)."""
    import select
    import time

    def params_of(c: McpCase) -> object:
        if isinstance(c.params, dict) and "OUTSIDE" in json.dumps(c.params):
            return json.loads(json.dumps(c.params).replace("OUTSIDE", str(root.parent / "outside")))
        return c.params

    messages: list[dict[str, object]] = [
        {"jsonrpc": "2.0", "id": 0, "method": "initialize",
         "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": {"name": "hostile", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
    ]
    messages += [{"jsonrpc": "2.0", "id": i + 1, "method": "tools/call", "params": params_of(c)}
                 for i, c in enumerate(cases)]
    process = subprocess.Popen(
        [python, "-m", "optograph", "mcp", "--root", str(root)], cwd=root.parent,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(b"".join(json.dumps(m).encode() + b"\n" for m in messages))
    process.stdin.flush()
    answers: dict[int, dict[str, object]] = {}
    buffer = b""
    deadline = time.monotonic() + timeout_s
    try:
        while len(answers) < len(cases) + 1 and time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], 1.0)
            if not ready:
                continue
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if isinstance(message, dict) and isinstance(message.get("id"), int):
                    answers[message["id"]] = message
    finally:
        process.kill()
        process.wait()
    return {c.name: answers.get(i + 1, {"missing": "no response"}) for i, c in enumerate(cases)}
