"""`optograph diffusion search|compare|evaluate` on a tiny random UNet (fast)."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from optograph.tasks import diffusion_commands
from optograph.tasks.cli import main


@pytest.fixture()
def common(tiny_model) -> list[str]:
    # the cache is shared by the module's tests: the proxy reference is sampled once
    return ["--model", str(tiny_model), "--reference", "proxy:5", "--images", "40",
            "--cache", str(tiny_model / "fid-cache"), "--device", "cpu"]


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_line(stderr: str) -> str:
    """The error is the last line, one line, after any progress lines."""
    line = stderr.strip().splitlines()[-1]
    assert line.startswith("optograph: error: ")
    return line


SEARCH = ["--steps", "3", "--population", "6", "--top-k", "3", "--mutants", "2",
          "--crossovers", "2"]


def test_search_writes_result_json_and_resumes(common, tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, stderr = run(["diffusion", "search", *common, *SEARCH, "--evaluations", "8",
                                "--out", str(out), "--macs-budget", "2.5M"], capsys)
    assert code == 0, stderr
    result = json.loads((out / "result.json").read_text())
    assert result["timesteps"] == sorted(result["timesteps"], reverse=True)
    # 2.5M pays for 2 full steps of this UNet: 3 steps with skip sets, or 2 full ones
    assert len(result["timesteps"]) == len(result["skip_sets"]) in (2, 3)
    assert result["solver"] == "ddim" and result["macs"] <= 2.5e6
    assert set(result["baselines"]) >= {"ddim-trailing", "dpmpp2m-karras", "unipc"}
    assert "[8/8]" in stderr and "best" in stdout and "on validation noise" in stdout
    # one of the 8 evaluations (at most one in eight) re-scored the best schedule on other noise
    (checked,) = result["validation"]["candidates"]
    assert checked["timesteps"] == result["timesteps"] and checked["fid"] == result["fid"]
    assert result["validation_fid"] == checked["validation_fid"] != result["fid"]
    assert result["validation"]["noise_seed"] != result["config"]["seed"]
    with sqlite3.connect(out / "search.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0] == 8
        assert db.execute("SELECT COUNT(*) FROM evaluations WHERE stage = 'validation'"
                          ).fetchone()[0] == 1
    # the same folder again without --resume is refused; with it, nothing is re-evaluated
    code, _, stderr = run(["diffusion", "search", *common, *SEARCH, "--evaluations", "12",
                           "--out", str(out), "--macs-budget", "2.5M"], capsys)
    assert code == 2 and "--out" in stderr and "--resume" in stderr


def test_killed_search_resumes_from_the_store(common, tmp_path, capsys, monkeypatch):
    from optograph.tools.diffusion.evaluator import ScheduleEvaluator

    original = ScheduleEvaluator.__call__
    calls = []

    def dies_after_five(self, schedule):
        if len(calls) == 5:
            raise KeyboardInterrupt
        calls.append(schedule)
        return original(self, schedule)

    out = tmp_path / "run"
    argv = ["diffusion", "search", *common, *SEARCH, "--evaluations", "8", "--out", str(out),
            "--macs-budget", "2.5M", "--no-baselines"]
    monkeypatch.setattr(ScheduleEvaluator, "__call__", dies_after_five)
    code, _, stderr = run(argv, capsys)
    assert code == 130 and not (out / "result.json").exists()
    monkeypatch.setattr(ScheduleEvaluator, "__call__", original)
    code, _, stderr = run([*argv, "--resume"], capsys)
    assert code == 0 and stderr.count("(stored)") == 5
    resumed = json.loads((out / "result.json").read_text())
    assert resumed["replayed_from_store"] == 5 and resumed["evaluated_now"] == 3


def test_compare_prints_the_table_and_writes_the_plot(common, tmp_path, capsys):
    out = tmp_path / "cmp"
    code, stdout, stderr = run(["diffusion", "compare", *common, "--steps", "2,3", "--out",
                                str(out), "--methods", "ddim-trailing,unipc"], capsys)
    assert code == 0, stderr
    assert "| ddim-trailing |" in stdout and "| unipc |" in stdout and "3 steps" in stdout
    assert (out / "compare.png").stat().st_size > 1000
    assert len(json.loads((out / "compare.json").read_text())) == 4


def test_compare_rescores_searched_schedules_with_its_own_noise(common, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, stderr = run(["diffusion", "search", *common, *SEARCH, "--evaluations", "6",
                           "--out", str(out), "--macs-budget", "2.5M", "--no-baselines"], capsys)
    assert code == 0, stderr
    result = json.loads((out / "result.json").read_text())
    rows = {}
    for seed in ("0", "1"):
        folder = tmp_path / f"cmp{seed}"
        code, stdout, stderr = run(["diffusion", "compare", *common, "--steps", "3", "--seed",
                                    seed, "--methods", "ddim-trailing", "--out", str(folder),
                                    "--results", str(out / "result.json")], capsys)
        assert code == 0, stderr
        rows[seed] = [r for r in json.loads((folder / "compare.json").read_text())
                      if r["method"].startswith("searched")]
    same, fresh = rows["0"][0], rows["1"][0]
    # the search's own noise gives back its FID; other noise gives another measurement
    assert same["timesteps"] == result["timesteps"] and same["skip_sets"] == result["skip_sets"]
    assert same["fid"] == pytest.approx(result["fid"], rel=1e-6)
    assert fresh["fid"] != pytest.approx(result["fid"], rel=1e-6)
    # a comparison run for the other solver still scores the schedule with its own solver
    code, _, stderr = run(["diffusion", "compare", *common, "--steps", "3", "--solver",
                           "dpmpp2m", "--methods", "unipc", "--out", str(tmp_path / "x"),
                           "--results", str(out / "result.json")], capsys)
    assert code == 0, stderr
    rows = json.loads((tmp_path / "x" / "compare.json").read_text())
    searched = [r for r in rows if r["method"] == "searched (ddim)"]
    assert len(searched) == 1 and searched[0]["fid"] == pytest.approx(result["fid"], rel=1e-6)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({**result, "solver": "euler"}))
    code, _, stderr = run(["diffusion", "compare", *common, "--steps", "3", "--out",
                           str(tmp_path / "y"), "--results", str(broken)], capsys)
    assert code == 2 and "--results" in error_line(stderr) and "euler" in error_line(stderr)


def test_compare_on_several_banks_gives_each_banks_own_fid(common, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, stderr = run(["diffusion", "search", *common, *SEARCH, "--evaluations", "6",
                           "--out", str(out), "--no-baselines", "--validate", "0"], capsys)
    assert code == 0, stderr

    def compare(*flags: str) -> tuple[list[dict], str]:
        folder = tmp_path / "-".join(flags or ("plain",))
        code, stdout, stderr = run(["diffusion", "compare", *common, "--steps", "3", *flags,
                                    "--methods", "ddim-trailing,unipc", "--out", str(folder),
                                    "--results", str(out / "result.json")], capsys)
        assert code == 0, stderr
        return json.loads((folder / "compare.json").read_text()), stdout

    # bank 0 is --seed 0's own noise; a bank's FID does not depend on the other banks beside it
    alone = {seed: {r["method"]: r["fid"] for r in compare(*flags)[0]}
             for seed, flags in (("0", ()), ("1", ("--seeds", "1")))}
    rows, stdout = compare("--seeds", "0,1")
    assert {r["method"] for r in rows} == {"ddim-trailing", "unipc", "searched (ddim)"}
    for row in rows:
        assert row["seeds"] == [0, 1]
        assert row["fids"] == pytest.approx([alone["0"][row["method"]], alone["1"][row["method"]]],
                                            rel=1e-5)
        assert row["fid"] == pytest.approx(np.mean(row["fids"]), rel=1e-6)
        assert row["spread"] == pytest.approx(np.std(row["fids"], ddof=1), rel=1e-5)
    searched_row = next(r for r in rows if r["method"] == "searched (ddim)")
    best = np.minimum(*[np.array(r["fids"]) for r in rows if not r["method"].startswith("s")])
    ratio = float(np.mean(np.array(searched_row["fids"]) / best))
    assert f"searched (ddim) at 3 steps: {ratio:.2f}x ± " in stdout
    assert searched_row["bank_ratios"] == pytest.approx(list(np.array(searched_row["fids"]) / best))
    assert "| searched (ddim) | " in stdout and " ± " in stdout
    # a search that compare runs itself is judged on the banks too
    folder = tmp_path / "search-banks"
    code, stdout, stderr = run(["diffusion", "compare", *common, *SEARCH, "--seeds", "0,1",
                                "--search-evaluations", "6", "--validate", "0", "--methods",
                                "unipc", "--out", str(folder)], capsys)
    assert code == 0, stderr
    found = next(r for r in json.loads((folder / "compare.json").read_text())
                 if r["method"] == "searched (ddim)")
    assert found["seeds"] == [0, 1] and found["fid"] == pytest.approx(np.mean(found["fids"]))
    assert "searched (ddim) at 3 steps: " in stdout
    assert "  bank 1: fid " in stderr  # progress as each bank is scored


def searched(argv: list[str], out, capsys) -> tuple[dict, str]:
    """A search without validation or baselines into `out`: its result.json and stderr."""
    code, _, stderr = run(["diffusion", "search", *argv, "--validate", "0", "--no-baselines",
                           "--out", str(out)], capsys)
    assert code == 0, stderr
    return json.loads((out / "result.json").read_text()), stderr


@pytest.mark.parametrize("exact", [False, True])
def test_a_macs_budget_as_a_share_of_the_full_network(common, tmp_path, capsys, exact):
    result, stderr = searched([*common, *SEARCH, "--evaluations", "12", "--macs-budget", "80%",
                               *(["--exact-steps"] if exact else [])],
                              tmp_path / "share", capsys)
    assert result["config"]["macs_share"] == 0.8 and result["config"]["macs_budget"] is None
    assert result["macs"] <= 0.8 * result["full_network_macs"] + 1e-6
    assert "timesteps+skips" in stderr  # the second stage ran under the share's budget
    # 80 % of 3 steps pays for 2 full steps: tried unless --exact-steps
    assert ("fewer-steps" in stderr) is not exact
    assert len(result["timesteps"]) == 3 if exact else len(result["timesteps"]) in (2, 3)


def test_compare_shows_searched_rows_at_several_step_counts(common, tmp_path, capsys):
    # result.json files of searches at 2, 3 and 5 steps (issue 16: 4, 6 and 10 on the shipped
    # model); 5 is not among --steps and still gets its column
    schedules = {2: [40, 10], 3: [45, 25, 5], 5: [49, 38, 27, 16, 5]}
    paths = []
    for steps, timesteps in schedules.items():
        path = tmp_path / f"result-{steps}.json"
        path.write_text(json.dumps({"timesteps": timesteps, "skip_sets": [[]] * steps,
                                    "solver": "ddim", "fid": 1.0, "steps": steps}))
        paths.append(str(path))
    out = tmp_path / "cmp"
    code, stdout, stderr = run(["diffusion", "compare", *common, "--steps", "2,3", "--methods",
                                "ddim-trailing", "--out", str(out), "--results", *paths], capsys)
    assert code == 0, stderr
    rows = [r for r in json.loads((out / "compare.json").read_text())
            if r["method"] == "searched (ddim)"]
    assert {r["steps"]: r["timesteps"] for r in rows} == schedules
    assert all(r["error"] is None and r["fid"] > 0 for r in rows)
    header = next(line for line in stdout.splitlines() if line.startswith("| method |"))
    assert "2 steps" in header and "3 steps" in header and "5 steps" in header
    searched = next(line for line in stdout.splitlines() if line.startswith("| searched (ddim) |"))
    assert all(cell.strip() for cell in searched.strip("|").split("|")[1:])  # no empty cell
    # two results for the same cell each keep their row, named by their file or folder
    again = tmp_path / "r3b" / "result.json"
    again.parent.mkdir()
    again.write_text(json.dumps({"timesteps": [40, 20, 2], "skip_sets": [[]] * 3,
                                 "solver": "ddim", "fid": 1.0, "steps": 3}))
    code, stdout, stderr = run(["diffusion", "compare", *common, "--steps", "3", "--methods",
                                "ddim-trailing", "--out", str(out), "--results", paths[1],
                                str(again)], capsys)
    assert code == 0, stderr
    rows = {r["method"]: r["timesteps"] for r in json.loads((out / "compare.json").read_text())}
    assert rows["searched (ddim) result-3"] == schedules[3]
    assert rows["searched (ddim) r3b"] == [40, 20, 2]
    assert "| searched (ddim) result-3 |" in stdout and "| searched (ddim) r3b |" in stdout


def test_compare_searches_each_step_count_seeded_by_the_ones_before(common, tmp_path, capsys):
    from optograph.tools.diffusion.seeding import resize_timesteps

    out = tmp_path / "cmp"
    code, stdout, stderr = run(["diffusion", "compare", *common, "--steps", "2,3", "--methods",
                                "ddim-trailing", "--search-evaluations", "10", "--population",
                                "10", "--top-k", "2", "--mutants", "2", "--crossovers", "2",
                                "--validate", "0", "--out", str(out)], capsys)
    assert code == 0, stderr
    rows = {r["steps"]: r for r in json.loads((out / "compare.json").read_text())
            if r["method"].startswith("searched")}
    assert set(rows) == {2, 3}
    with sqlite3.connect(out / "search-3" / "search.sqlite") as db:
        tried = {tuple(json.loads(text)["timesteps"])
                 for (text,) in db.execute("SELECT schedule FROM evaluations")}
    # the first generation: uniform, the built-in grids, then the 2-step answer resized
    assert resize_timesteps(rows[2]["timesteps"], 3, 1000) in tried


def test_evaluate_one_schedule(common, capsys):
    code, stdout, stderr = run(["diffusion", "evaluate", *common, "--timesteps", "900,500,100"],
                               capsys)
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["fid"] > 0 and result["macs"] > 0


@pytest.mark.parametrize("argv, option", [
    (["--timesteps", "100,500,900"], "--timesteps"),
    (["--timesteps", "1200,500,100"], "--timesteps"),
])
def test_bad_time_steps(common, capsys, argv, option):
    code, _, stderr = run(["diffusion", "evaluate", *common, *argv], capsys)
    assert code == 2 and option in error_line(stderr)


def test_multi_fidelity_search_answers_with_a_top_fidelity_candidate(common, tmp_path, capsys):
    out = tmp_path / "mf"
    result, _ = searched([*common, *SEARCH, "--fidelities", "40,80", "--image-budget", "800"],
                         out, capsys)
    assert result["images"] == 80 and result["images_spent"] <= 800
    assert result["config"]["fidelities"] == [40, 80] and result["config"]["images"] == 80
    with sqlite3.connect(out / "search.sqlite") as db:
        counts = dict(db.execute("SELECT images, COUNT(*) FROM evaluations GROUP BY images"))
    assert counts[40] > counts[80] >= 1


def test_bad_model_reference_and_budget(common, tmp_path, capsys, tiny_model):
    not_model = tmp_path / "empty"
    not_model.mkdir()
    few = tmp_path / "few.npy"
    np.save(few, np.zeros((10, 8, 8), dtype=np.uint8))
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((100, 16, 16), dtype=np.uint8))
    cases = [
        (["--model", str(not_model)], "--model", "not a diffusers model"),
        (["--reference", str(few)], "--reference", "too few"),
        (["--reference", str(wrong)], "--reference", "the model makes 1x8x8"),
        (["--macs-budget", "1000"], "--macs-budget", "below the cheapest"),
        (["--macs-budget", "lots"], "--macs-budget", "expected a number"),
        (["--validate", "-1"], "--validate", "must be 0 or more"),
        (["--fidelities", "40,20"], "--fidelities", "strictly increasing"),
        (["--fidelities", "20,x"], "--fidelities", "expected integers"),
        (["--fidelities", "20,40", "--image-budget", "50"], "--image-budget", "need at least 60"),
        (["--image-budget", "10"], "--image-budget", "need at least 40"),
        (["--fidelities", "2,40"], "--fidelities", "too few"),
        (["--macs-budget", "5%"], "--macs-budget", "below the cheapest"),  # unreachable
        (["--macs-budget", "150%"], "--macs-budget", "in (0, 1]"),
        (["--macs-budget", "x%"], "--macs-budget", "expected a percentage"),
    ]
    for extra, option, message in cases:
        argv = ["diffusion", "search", *common, *SEARCH, "--evaluations", "2",
                "--out", str(tmp_path / "x"), *extra]
        code, _, stderr = run(argv, capsys)
        assert code == 2, (extra, stderr)
        line = error_line(stderr)
        assert option in line and message in line, stderr


def test_register_does_not_import_torch_heavy_modules():
    assert "evaluator" not in dir(diffusion_commands)


def test_a_failing_baseline_is_a_row_and_the_result_is_written_first(common, tmp_path, capsys,
                                                                      monkeypatch):
    from diffusers import UniPCMultistepScheduler

    def broken_step(self, *args, **kwargs):
        raise IndexError("index 5 is out of bounds for dimension 0 with size 5")

    monkeypatch.setattr(UniPCMultistepScheduler, "step", broken_step)
    out = tmp_path / "run"
    code, stdout, stderr = run(["diffusion", "search", *common, *SEARCH, "--evaluations", "6",
                                "--out", str(out)], capsys)
    assert code == 0, stderr
    result = json.loads((out / "result.json").read_text())
    assert result["baselines"]["unipc"] == {
        "failed": "IndexError: index 5 is out of bounds for dimension 0 with size 5"}
    assert result["baselines"]["ddim-trailing"]["fid"] > 0
    assert "unipc" in stderr and "failed" in stderr
    # sample grids beside the FIDs: one PNG per row, shown in report.html
    assert (out / result["samples"]).stat().st_size > 100
    assert (out / result["baselines"]["ddim-trailing"]["samples"]).exists()
    assert "data:image/png;base64" in (out / "report.html").read_text()
    # compare likewise: the failed row is marked, the others are there
    code, stdout, stderr = run(["diffusion", "compare", *common, "--steps", "3", "--methods",
                                "ddim-trailing,unipc", "--out", str(tmp_path / "cmp"),
                                "--results", str(out / "result.json")], capsys)
    assert code == 0, stderr
    assert "| unipc | failed |" in stdout and "failed: unipc at 3 steps: IndexError" in stdout
    assert "searched (ddim)" in stdout
    assert (tmp_path / "cmp" / "report.html").exists()


def test_the_result_is_safe_before_the_baselines_run(common, tmp_path, capsys, monkeypatch):
    from optograph.tools.diffusion import extras

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(extras, "run_baselines", interrupted)
    out = tmp_path / "run"
    code, _, stderr = run(["diffusion", "search", *common, *SEARCH, "--evaluations", "6",
                           "--out", str(out)], capsys)
    assert code == 130
    result = json.loads((out / "result.json").read_text())
    assert len(result["timesteps"]) == 3 and result["evaluations"] == 6


@pytest.mark.parametrize(("argv", "flag"), [
    (["--max-concurrency", "2"], "--max-concurrency: 2 needs the ray executor"),
    (["--max-concurrency", "0"], "--max-concurrency: expected a whole number >= 1"),
    (["--executor", "spark"], "--executor: expected 'local', 'ray' or 'ray://HOST:PORT'"),
    (["--validate", "-1"], "--validate"),
])
def test_executor_flags_are_checked_before_any_work(common, tmp_path, capsys, argv, flag):
    code, _, stderr = run(["diffusion", "search", *common, *SEARCH, "--out",
                           str(tmp_path / "x"), *argv], capsys)
    assert code == 2 and flag in error_line(stderr)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(("where", "message"), [
    ("ray://127.0.0.1:1", "--executor: cannot reach the Ray cluster at ray://127.0.0.1:1"),
    ("ray", "--executor: 'ray' needs the ray extra: pip install 'optograph[ray]'"),
])
def test_ray_unreachable_or_not_installed_on_resume_loses_nothing(common, tmp_path, capsys,
                                                                 monkeypatch, where, message):
    pytest.importorskip("ray")
    out = tmp_path / "run"
    argv = ["diffusion", "search", *common, *SEARCH, "--evaluations", "3", "--validate", "0",
            "--no-baselines", "--out", str(out)]
    code, _, stderr = run(argv, capsys)
    assert code == 0, stderr
    stored = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    if where == "ray":
        monkeypatch.setitem(__import__("sys").modules, "ray", None)  # as without the extra
    try:
        code, _, stderr = run([*argv, "--resume", "--executor", where], capsys)
    finally:
        ray = __import__("sys").modules.get("ray")
        if ray is not None and ray.is_initialized():
            ray.shutdown()
    assert code == 2 and error_line(stderr).startswith(f"optograph: error: {message}")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == stored


def test_search_seeds_from_the_results_of_other_step_counts(common, tmp_path, capsys):
    from optograph.tools.diffusion.seeding import resize_timesteps

    other = tmp_path / "s4.json"  # a 4-step answer whose grid no built-in spacing has
    other.write_text(json.dumps({"timesteps": [977, 611, 333, 17], "skip_sets": [[]] * 4,
                                 "solver": "ddim", "fid": 1.0}))
    out = tmp_path / "s3"
    code, _, stderr = run(["diffusion", "search", *common, *SEARCH, "--evaluations", "12",
                           "--population", "12", "--validate", "0", "--no-baselines",
                           "--seed-from", str(other),
                           "--out", str(out)], capsys)
    assert code == 0, stderr
    with sqlite3.connect(out / "search.sqlite") as db:
        tried = {tuple(json.loads(text)["timesteps"])
                 for (text,) in db.execute("SELECT schedule FROM evaluations")}
    assert resize_timesteps([977, 611, 333, 17], 3, 1000) in tried
    code, _, stderr = run(["diffusion", "search", *common, *SEARCH, "--seed-from",
                           str(tmp_path / "missing.json"), "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and "--seed-from" in error_line(stderr) and "missing.json" in stderr
    assert not (tmp_path / "x").exists()  # refused before any folder is made
