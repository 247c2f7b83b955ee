from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from diffusion_tiny import CROSS_DIM, one_thread, save_pipeline, tiny_condition_unet, tiny_unet

from optograph.tools.diffusion.errors import SkipSetError
from optograph.tools.diffusion.macs import count_macs, measure_macs
from optograph.tools.diffusion.model import DiffusionModel, load_model

_threads = pytest.fixture(autouse=True, scope="module")(one_thread)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> DiffusionModel:
    return load_model(save_pipeline(tmp_path_factory.mktemp("macs") / "pipe", tiny_unet()))


def test_table_predicts_the_counted_macs_of_any_skip_set(model: DiffusionModel) -> None:
    table = measure_macs(model)
    assert table.full == count_macs(model)
    rng = random.Random(0)
    for _ in range(4):
        skip_set = rng.sample(table.units, rng.randint(1, len(table.units)))
        assert table.step_macs(skip_set) == count_macs(model, skip_set)


def test_attention_cost_includes_the_attention_products(model: DiffusionModel) -> None:
    # mid.attn.0 runs on 4x4 = 16 tokens of 16 channels: q, k, v and output projections
    # (4 N C^2) plus the score and value products (2 N^2 C), whatever the SDPA kernel.
    tokens, channels = 16, 16
    expected = 4 * tokens * channels * channels + 2 * tokens * tokens * channels
    assert measure_macs(model).saved["mid.attn.0"] == expected


def test_skipped_resnet_still_pays_for_its_shortcut(model: DiffusionModel) -> None:
    table = measure_macs(model)
    block = model.unet.get_submodule("up_blocks.1.resnets.0")
    shortcut = block.conv_shortcut
    # Counted alone: conv_shortcut on the block's 8x8 input.
    shortcut_macs = shortcut.in_channels * shortcut.out_channels * 8 * 8
    with torch.no_grad():
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter:
            block(torch.zeros(1, block.in_channels, 8, 8), torch.zeros(1, 32))
    assert table.saved["up.1.resnet.0"] == counter.get_total_flops() // 2 - shortcut_macs


def test_schedule_cost_is_the_sum_of_its_steps(model: DiffusionModel) -> None:
    table = measure_macs(model)
    skip_sets = [(), ("mid.attn.0",), ("down.0.resnet.0", "up.0.attn.0")]
    assert table.schedule_macs(skip_sets) == sum(table.step_macs(s) for s in skip_sets)
    with pytest.raises(SkipSetError, match="unknown unit 'nope'"):
        table.step_macs(["nope"])


def test_guidance_doubles_the_cost(tmp_path: Path) -> None:
    folder = save_pipeline(tmp_path / "cond", tiny_condition_unet())
    embeds = torch.randn(2, 3, CROSS_DIM)
    plain = measure_macs(load_model(folder, prompt_embeds=embeds))
    guided = measure_macs(load_model(folder, prompt_embeds=embeds, guidance_scale=5.0,
                                     negative_prompt_embeds=torch.zeros(1, 3, CROSS_DIM)))
    assert guided.full == 2 * plain.full
    assert guided.saved == {name: 2 * macs for name, macs in plain.saved.items()}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_macs_do_not_depend_on_the_device(tmp_path: Path) -> None:
    folder = save_pipeline(tmp_path / "pipe", tiny_unet())
    assert measure_macs(load_model(folder, device="cuda")) == measure_macs(load_model(folder, device="cpu"))
