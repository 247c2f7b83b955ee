"""Count the hostile inputs of issue 15 that a checkout handles, per category: every case of
tests/tasks/hostile_cases.py run as its own `python -m optograph ...` subprocess (a hang
counts as not handled after --timeout seconds), plus the MCP cases in one server session.

    nice -n 10 python benchmarks/hostile_inputs.py                       # this checkout
    nice -n 10 python benchmarks/hostile_inputs.py --python /work/main/.venv/bin/python

`--python` chooses the interpreter (and so the installed optograph) under test; the cases
and the rule for "handled" are this checkout's. Prints one line per case that is not
handled, then tried/handled per category."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "tasks"))

from hostile_cases import (  # noqa: E402
    CASES,
    MCP_CASES,
    Case,
    Scene,
    judge,
    mcp_scene,
    mcp_session,
)


def _runner(python: str, cwd: Path | None, env: dict[str, str], timeout_s: float
            ) -> Callable[[list[str]], tuple[int, str, str]]:
    def run(argv: list[str]) -> tuple[int, str, str]:
        try:
            done = subprocess.run([python, "-m", "optograph", *argv], cwd=cwd, env=env,
                                  capture_output=True, text=True, timeout=timeout_s,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return -1, "", f"no answer within {timeout_s:g} s"
        return done.returncode, done.stdout, done.stderr
    return run


def _has(python: str, module: str) -> bool:
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([python, "-c", code]).returncode == 0


def run_case(case: Case, python: str, timeout_s: float, template: Path) -> str | None:
    with tempfile.TemporaryDirectory(prefix="hostile-") as folder:
        tmp = Path(folder)
        env = dict(os.environ)
        for name, value in case.env.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        run = _runner(python, tmp, env, timeout_s)
        scene = Scene(tmp, lambda argv: run(argv)[0], template=template)
        try:
            try:
                argv = case.setup(scene)
            except Exception as exc:  # the setup needs a feature the checkout lacks
                return f"setup failed: {type(exc).__name__}: {exc}"
            code, out, err = run(argv)
            if code == -1:
                return err
            return judge(case, scene, code, out, err)
        finally:
            for cleanup in scene.cleanups:
                cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per case")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    available = {m: _has(args.python, m) for m in {c.needs for c in CASES + MCP_CASES} if m}
    cases = [c for c in CASES if not c.needs or available[c.needs]]
    tried: Counter[str] = Counter()
    handled: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="hostile-template-") as folder:
        base = Scene(Path(folder), lambda argv: _runner(args.python, Path(folder), dict(os.environ),
                                                        args.timeout)(argv)[0])
        template = base.finished_run()  # one finished run, copied by the cases that need one
        with ThreadPoolExecutor(args.jobs) as pool:
            problems = pool.map(lambda c: run_case(c, args.python, args.timeout, template), cases)
            for case, problem in zip(cases, problems, strict=True):
                tried[case.category] += 1
                if problem is None:
                    handled[case.category] += 1
                else:
                    print(f"NOT HANDLED [{case.category}] {case.name}: "
                          f"{problem.splitlines()[0][:200]}", flush=True)
        mcp_cases = [c for c in MCP_CASES if not c.needs or available[c.needs]]
        with tempfile.TemporaryDirectory(prefix="hostile-mcp-") as mcp_folder:
            tmp = Path(mcp_folder)
            run = _runner(args.python, None, dict(os.environ), args.timeout)  # mcp_scene's cwd
            root = mcp_scene(Scene(tmp, lambda argv: run(argv)[0], template=template))
            answers = mcp_session(args.python, root, mcp_cases)
            for case in mcp_cases:
                tried["MCP server"] += 1
                problem = case.check(answers[case.name], root)
                if problem is None:
                    handled["MCP server"] += 1
                else:
                    print(f"NOT HANDLED [MCP server] {case.name}: {problem.splitlines()[0][:200]}")
    print(f"\n{'category':<16} {'tried':>5} {'handled':>7}   ({args.python})")
    for category in tried:
        print(f"{category:<16} {tried[category]:>5} {handled[category]:>7}")
    print(f"{'all':<16} {sum(tried.values()):>5} {sum(handled.values()):>7}")


if __name__ == "__main__":
    main()
