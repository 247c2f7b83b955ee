"""Baselines in the search's protocol, the comparison table and its plot."""

from __future__ import annotations

import math
import statistics

import pytest
import torch
from diffusers import DDPMScheduler, UNet2DModel

from optograph.tools.diffusion.banks import NoiseBanks, spread
from optograph.tools.diffusion.baselines import Row, best_built_in, run_baselines, searched_row
from optograph.tools.diffusion.compare import bank_by_bank, comparison_table, write_comparison
from optograph.tools.diffusion.errors import DiffusionInputError
from optograph.tools.diffusion.evaluator import build_evaluator
from optograph.tools.diffusion.search_space import Schedule


@pytest.fixture(scope="module")
def evaluator(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    UNet2DModel(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1,
                block_out_channels=(8, 16), down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=4,
                attention_head_dim=8).save_pretrained(folder / "unet")
    DDPMScheduler(num_train_timesteps=1000, clip_sample=False).save_pretrained(folder / "scheduler")
    return build_evaluator(str(folder), "proxy:4", num_images=40, device="cpu",
                           cache_dir=folder / "cache")


def test_baselines_run_in_the_same_protocol(evaluator):
    rows = run_baselines(evaluator, [2, 3], ["ddim-trailing", "dpmpp2m-karras"])
    assert [(r.method, r.steps) for r in rows] == [
        ("ddim-trailing", 2), ("ddim-trailing", 3), ("dpmpp2m-karras", 2), ("dpmpp2m-karras", 3)]
    full = evaluator.step_macs(())
    assert all(r.macs == r.steps * full and r.fid > 0 and len(r.timesteps) == r.steps for r in rows)
    assert rows[1].timesteps[0] == 999  # trailing spacing starts at T-1
    # the same schedule through the searched path gets the same FID: same noise, same reference
    again = evaluator(Schedule.full(tuple(rows[1].timesteps)))
    assert again.fid == pytest.approx(rows[1].fid, rel=1e-4)


def test_unknown_method_names_the_option(evaluator):
    with pytest.raises(DiffusionInputError, match="^methods: unknown method 'ddpm'"):
        run_baselines(evaluator, [2], ["ddpm"])


def test_table_shows_fid_by_method_and_steps_with_macs(tmp_path):
    rows = [Row("ddim-trailing", 4, 55.5, 4e8, 1.0), Row("ddim-trailing", 6, 40.25, 6e8, 1.0),
            searched_row("searched (ddim)", Schedule((900, 600, 300, 50), (("a",), (), (), ())),
                         20.0, 3.5e8, 9.0),
            searched_row("searched (ddim)", Schedule.full((900, 700, 500, 300, 100, 10)), 15.0,
                         6e8, 9.0)]
    table = comparison_table(rows)
    lines = table.splitlines()
    assert lines[0] == "| method | 4 steps | 6 steps |"
    assert "| ddim-trailing | 55.50 | 40.25 |" in lines
    assert "| searched (ddim) | 20.00 (350 M) | 15.00 |" in lines
    assert lines[-1] == "| MACs per image (full network) | 400 M | 600 M |"
    printed: list[str] = []
    write_comparison(rows, tmp_path, printed.append)
    assert printed[0] == table
    assert (tmp_path / "compare.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "table.md").read_text().strip() == table


def test_rows_on_several_banks_are_each_banks_own_measurement(evaluator):
    banks = NoiseBanks.of(evaluator, [3, 7])
    [row] = run_baselines(evaluator, [2], ["ddim-trailing"], banks=banks)
    alone = [evaluator.with_noise_seed(seed).baseline("ddim-trailing", 2).fid for seed in (3, 7)]
    assert row.seeds == [3, 7] and row.fids == pytest.approx(alone, rel=1e-5)
    assert row.fid == pytest.approx(sum(alone) / 2, rel=1e-5)
    assert row.spread == pytest.approx(statistics.stdev(alone), rel=1e-4)
    assert row.to_dict()["spread"] == row.spread
    # one bank: no spread; the same seed twice is refused, naming the field
    assert spread([1.0]) is None and math.isnan(spread([1.0, math.nan]))
    with pytest.raises(DiffusionInputError, match="^seeds: each seed once"):
        NoiseBanks.of(evaluator, [3, 3])


def test_searched_rows_are_compared_to_the_best_built_in_bank_by_bank():
    # bank 0 is easy and bank 1 hard for everyone: the searched row's FIDs spread wider than
    # its lead, but bank by bank it is 0.75x and 1.15x the best built-in (a built-in that gave
    # NaN on a bank is left out of that bank's best)
    rows = [Row("dpmpp2m-karras", 4, math.nan, 4e8, 1.0, seeds=[0, 1], fids=[math.nan, 5.0]),
            Row("ddim-trailing", 4, 3.0, 4e8, 1.0, seeds=[0, 1], fids=[2.0, 4.0]),
            Row("unipc", 4, 3.0, 4e8, 1.0, seeds=[0, 1], fids=[3.0, 3.0]),
            Row("searched (unipc)", 4, 2.4, 4e8, 1.0, seeds=[0, 1], fids=[1.5, 3.45]),
            Row("searched (unipc)", 6, 2.0, 6e8, 1.0, seeds=[0, 1], fids=[2.0, 2.0])]
    assert bank_by_bank(rows) == [
        "searched (unipc) at 4 steps: 0.95x ± 0.28 the best built-in's FID, bank by bank "
        "(lower on 1 of 2)"]  # no built-in at 6 steps: no ratio
    assert best_built_in({"dpmpp2m-karras": math.nan, "unipc": 3.0, "ddim-trailing": math.inf}) \
        == "unipc" and best_built_in({"unipc": math.nan}) is None
    table = comparison_table(rows).splitlines()
    assert "| searched (unipc) | 2.40 ± 1.38 | 2.00 ± 0.00 |" in table
    assert "mean FID ± its standard deviation over the noise banks of seeds 0, 1" in table
