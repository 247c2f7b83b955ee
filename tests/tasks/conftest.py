"""Fixtures of the tasks tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A fresh run store for one test."""
    return tmp_path / "runs"
