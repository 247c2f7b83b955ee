"""Module.export: the learned class as a plain Python file, run in a fresh interpreter that
cannot import optograph, gives the module's outputs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import optograph as og

SUFFIX = "!"


def shout(text: str) -> str:
    return re.sub(r"\s+", " ", text).upper() + SUFFIX


@og.model
class Greeter:
    """Greets people."""

    def __init__(self, style: str = "plain") -> None:
        self.greeting = og.node("Hello", trainable=True, name="greeting")
        self.style = style

    @og.bundle(trainable=True)
    def decorate(self, name: str) -> str:
        """Return the greeting for `name`."""
        return f"{self.greeting.data}, {name}"

    def forward(self, name: og.Node) -> og.Node:
        return self.decorate(og.node(name))


class Team(og.Module):
    def __init__(self) -> None:
        self.members = [Greeter(), Greeter()]
        self.sign = og.node(["a", "b"], trainable=True)

    def forward(self, name: str) -> str:
        return " / ".join(str(m(name)) for m in self.members) + str(self.sign)


LEARNED = 'def decorate(self, name):\n    return shout(self.greeting + " " + name)\n'


def _run_exported(path: Path, script: str) -> str:
    """Run `script` after loading the exported file, in `python -I` with optograph blocked."""
    program = (
        "import sys, runpy, json\n"
        "sys.modules['optograph'] = None\n"
        f"ns = runpy.run_path({str(path)!r})\n" + script
    )
    done = subprocess.run([sys.executable, "-I", "-c", program], capture_output=True, text=True,
                          cwd=path.parent, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_exported_file_runs_without_optograph_and_gives_the_same_outputs(tmp_path: Path) -> None:
    agent = Greeter()
    agent.greeting.set("Good day")
    dict(agent.named_parameters())["decorate"].set(LEARNED)
    names = ["ada", "grace  hopper"]
    expected = [agent(n).data for n in names]
    agent.export(tmp_path / "greeter.py")
    text = (tmp_path / "greeter.py").read_text()
    assert "optograph" not in text.split('"""', 2)[2] and "import re" in text
    assert "import pytest" not in text and "import subprocess" not in text
    out = _run_exported(tmp_path / "greeter.py",
                        f"g = ns['Greeter']()\nprint(json.dumps([g(n) for n in {names!r}]))")
    assert json.loads(out) == expected == ["GOOD DAY ADA!", "GOOD DAY GRACE HOPPER!"]


def test_a_module_holding_modules_exports_their_classes_and_values(tmp_path: Path) -> None:
    team = Team()
    team.members[1].greeting.set("Hi")
    team.sign.set(["z"])
    expected = team("x")
    team.export(tmp_path / "team.py")
    out = _run_exported(tmp_path / "team.py", "print(ns['Team']()('x'))")
    assert out.strip() == expected == "Hello, x / Hi, x['z']"


def test_two_instances_with_different_learned_code_are_refused(tmp_path: Path) -> None:
    team = Team()
    dict(team.named_parameters())["members.1.decorate"].set(LEARNED)
    with pytest.raises(og.GraphError, match=r"learned different code for decorate\(\)"):
        team.export(tmp_path / "team.py")
    assert not (tmp_path / "team.py").exists()


def test_export_into_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(og.GraphError, match="folder .* does not exist"):
        Greeter().export(tmp_path / "missing" / "greeter.py")


def test_a_value_that_is_not_a_literal_is_named(tmp_path: Path) -> None:
    agent = Greeter()
    agent.greeting = og.node(object(), trainable=True)
    with pytest.raises(og.GraphError, match="attribute 'greeting' holds object"):
        agent.export(tmp_path / "greeter.py")


class UsesTheLibrary(og.Module):
    def __init__(self) -> None:
        self.x = og.node(1, trainable=True)

    def forward(self) -> og.Node:
        with og.no_trace():
            return self.x + 1


def test_code_that_still_needs_optograph_is_refused_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(og.GraphError, match=r"uses 'og' from optograph.*no_trace"):
        UsesTheLibrary().export(tmp_path / "uses.py")
