"""Fixtures of the tasks tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A fresh run store for one test."""
    return tmp_path / "runs"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random class-conditional diffusers pipeline folder (unet/ + scheduler/), built
    with the diffusion tests' own helper; torch is imported only by the tests that use it."""
    tools_tests = str(Path(__file__).resolve().parents[1] / "tools")
    if tools_tests not in sys.path:
        sys.path.insert(0, tools_tests)
    from diffusion_tiny import save_pipeline, tiny_unet

    return save_pipeline(tmp_path_factory.mktemp("tiny"), tiny_unet(num_class_embeds=10))
