"""The diffusion benchmarks run end to end at tiny sizes and write the reports the README's
numbers come from: diffusion_fidelity.py --quick (every part once) and cross_judge.py on a
report, with each answer's ratio per bank and its spread. The numbers mean nothing here; the
shape of the report and the arithmetic between its fields are what a reader relies on."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from benchmark_scripts import run


def test_quick_fidelity_run_writes_every_part_of_the_report(tmp_path: Path) -> None:
    out = tmp_path / "fidelity.json"
    result = run("diffusion_fidelity.py", "--quick", "--device", "cpu", "--threads", "1",
                 "--macs-budget", "0.8", "--json", str(out), cache=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    kinds = [(s["kind"], s["steps"]) for s in report["searches"]]
    assert kinds == [("multi", 4), ("fixed", 4), ("multi", 6), ("multi", 10), ("skips", 4)]
    assert [r["steps"] for r in report["vs_built_in"]] == [4, 6, 10]
    for row in report["vs_built_in"]:
        assert row["target"] == (0.5 if row["steps"] == 4 else 0.8)
        assert math.isclose(row["ratio"], row["searched_fid"] / row["built_in_fid"])
    (compared,) = report["fixed_vs_multi"]
    assert math.isclose(compared["ratio"], compared["multi_fid"] / compared["fixed_fid"])
    assert report["skips"]["macs_share"] <= 0.8 + 1e-9
    assert "(a) multi-fidelity vs fixed fidelity" in result.stdout
    assert "(d) under 80% of the full MACs at 4 steps" in result.stdout
    assert "[1/" in result.stderr  # each search's progress, one line per evaluation


def test_cross_judge_reports_each_answers_ratio_per_bank_and_its_spread(tmp_path: Path) -> None:
    answers = [[999, 666, 333, 40], [900, 600, 300, 10]]
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"args": {"solver": "unipc"}, "searches": [
        {"kind": "fixed", "steps": 4, "seed": seed, "timesteps": t, "skip_sets": None}
        for seed, t in enumerate(answers)]}))
    out = tmp_path / "cross.json"
    result = run("cross_judge.py", str(report), "--seeds", "0", "1", "2", "--judge-images", "40",
                 "--methods", "unipc", "--threads", "1", "--json", str(out), cache=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    judged = json.loads(out.read_text())
    assert [bank["seed"] for bank in judged["banks"]] == [0, 1, 2]
    for index, answer in enumerate(judged["answers"]):
        assert answer["timesteps"] == answers[index]
        ratios = [bank["fids"][index] / bank["built_in_fid"] for bank in judged["banks"]]
        assert answer["ratios"] == ratios
        assert math.isclose(answer["mean_ratio"], statistics.fmean(ratios))
        assert math.isclose(answer["spread"], statistics.stdev(ratios))
    assert "mean  spread" in result.stdout
