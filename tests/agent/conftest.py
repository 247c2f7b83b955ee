"""Each agent test names its nodes in a fresh run, so names are exactly the ones given."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import optograph as og


@pytest.fixture(autouse=True)
def fresh_run() -> Iterator[og.Run]:
    with og.Run() as run:
        yield run
