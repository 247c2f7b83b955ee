"""The diffusion benchmarks' bad flags: one line naming the flag, exit status 2, before any
search or judging starts (a typo must not cost the hour a 10-step search takes)."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmark_scripts import run


@pytest.mark.parametrize(("flags", "message"), [
    (["--converged-steps", "5000"], "--converged-steps: must be an integer in [1, 1000]; got 5000"),
    (["--fidelities", "512,128"], "--fidelities:"),
])
def test_diffusion_fidelity_refuses_a_bad_flag_in_one_line(tmp_path: Path, flags: list[str],
                                                           message: str) -> None:
    result = run("diffusion_fidelity.py", *flags, cache=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""  # nothing searched or judged
    assert result.stderr.splitlines()[-1].startswith(f"diffusion_fidelity.py: error: {message}")


def test_cross_judge_refuses_a_file_that_is_no_report(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.json"
    bogus.write_text('{"searches": "none"}')
    result = run("cross_judge.py", str(bogus), cache=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines()[-1].startswith(
        f"cross_judge.py: error: reports: {bogus}: not a diffusion_fidelity.py report")
