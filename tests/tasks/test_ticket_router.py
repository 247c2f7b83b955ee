"""The agent-class example (tasks/examples/ticket_router.py): OptoPrime improves a
TicketRouter's prompt attribute and decide method over the shipped tickets, the learned router
exports to a plain Python file that runs without optograph and routes every ticket as the
module does; the same agent runs through its task file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from tasks_paths import EXAMPLES, scripted
from tasks_scripted_models import ROUTER_GUIDE, TaskModel

from optograph.tasks.cli import main
from optograph.tasks.run_view import RunView

sys.path.insert(0, str(EXAMPLES))
import ticket_router  # noqa: E402

LEARNED_DECIDE = '''def decide(self, ticket):
    text = " ".join(ticket.lower().split())
    for line in self.prompt.data.splitlines():
        team, _, words = line.partition(":")
        for word in words.split(","):
            if word.strip() and word.strip() in text:
                return team.strip()
    return "unknown"
'''


def _suggestion(values: dict[str, Any]) -> str:
    return json.dumps({"reasoning": "scripted", "answer": "", "suggestion": values})


def test_the_router_learns_and_its_export_runs_without_optograph(tmp_path: Path) -> None:
    model = TaskModel(suggestions=[_suggestion(
        {"prompt": ROUTER_GUIDE, "__code_TicketRouter.decide": LEARNED_DECIDE})])
    router, result = ticket_router.train(model, steps=3)
    assert result.history[0]["score"] < 1.0 and result.best_score == 1.0
    assert router.state_dict() == {"decide": LEARNED_DECIDE, "prompt": ROUTER_GUIDE}
    tickets = [t["ticket"] for t in ticket_router.load_tickets()]
    expected = [router(t).data for t in tickets]
    assert expected == [t["team"] for t in ticket_router.load_tickets()]

    path = tmp_path / "learned_router.py"
    router.export(path)
    program = (
        "import sys, json, runpy\nsys.modules['optograph'] = None\n"
        f"ns = runpy.run_path({str(path)!r})\nrouter = ns['TicketRouter']()\n"
        f"print(json.dumps([router(t) for t in {tickets!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-I", "-c", program], capture_output=True,
                          text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == expected
    assert "optograph" not in path.read_text().split('"""', 2)[2]


def test_the_task_file_holds_the_class_code() -> None:
    spec = yaml.safe_load((EXAMPLES / "ticket_router.yaml").read_text())
    router = ticket_router.TicketRouter()
    assert spec["parameters"]["decide"]["value"] == router.state_dict()["decide"]
    assert spec["parameters"]["prompt"]["value"] == router.state_dict()["prompt"]


def test_the_task_file_runs_the_agent(tmp_path: Path) -> None:
    store = tmp_path / "runs"
    assert main(["run", str(EXAMPLES / "ticket_router.yaml"), "--store", str(store),
                 "--llm", scripted("router_optimizer")]) == 0
    view = RunView.load(next(store.iterdir()))
    scores = [r.score for r in view.steps]
    assert scores[0] is not None and scores[0] < 1.0 and scores[-1] == 1.0
    assert view.best()[1]["prompt"] == ROUTER_GUIDE
