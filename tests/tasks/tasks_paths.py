"""Paths and helpers shared by the tasks tests (imported as a plain module: the test
folders have no __init__.py)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "tasks" / "examples"
HERE = Path(__file__).resolve().parent
SCRIPTED = HERE / "tasks_scripted_models.py"
CASSETTES = HERE / "cassettes"
BROKEN = HERE / "broken"


def scripted(name: str) -> str:
    """An --llm spec for a scripted model of tasks_scripted_models.py."""
    return f"python:{SCRIPTED}:{name}"
