from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from diffusers.models.modeling_outputs import Transformer2DModelOutput
from diffusion_tiny import CROSS_DIM, one_thread, save_pipeline, tiny_condition_unet, tiny_unet

from optograph.tools.diffusion.errors import SkipSetError
from optograph.tools.diffusion.macs import measure_macs
from optograph.tools.diffusion.model import DiffusionModel, load_model
from optograph.tools.diffusion.noise import NoiseBank
from optograph.tools.diffusion.sampler import sample
from optograph.tools.diffusion.skips import UnitSkipper, skippable_units, skipping

_threads = pytest.fixture(autouse=True, scope="module")(one_thread)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> DiffusionModel:
    return load_model(save_pipeline(tmp_path_factory.mktemp("skips") / "pipe", tiny_unet()))


def call(model: DiffusionModel, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.predict_noise(x, 400)


def test_units_are_every_resnet_and_attention_in_execution_order(model: DiffusionModel) -> None:
    units = skippable_units(model.unet)
    assert [u.name for u in units] == [
        "down.0.resnet.0", "down.1.resnet.0", "down.1.attn.0",
        "mid.resnet.0", "mid.attn.0", "mid.resnet.1",
        "up.0.resnet.0", "up.0.attn.0", "up.0.resnet.1", "up.0.attn.1",
        "up.1.resnet.0", "up.1.resnet.1",
    ]
    kinds = {u.name: u.kind for u in units}
    assert kinds["mid.attn.0"] == "attention" and kinds["up.1.resnet.1"] == "resnet"
    for unit in units:
        module = model.unet.get_submodule(unit.path)
        expected = "ResnetBlock2D" if unit.kind == "resnet" else "Attention"
        assert type(module).__name__ == expected


def test_empty_skip_set_changes_nothing(model: DiffusionModel) -> None:
    x = torch.randn(2, 1, 8, 8)
    plain = call(model, x)
    with skipping(model.unet, ()):
        torch.testing.assert_close(call(model, x), plain, rtol=0, atol=0)


def test_skipping_changes_output_and_is_undone(model: DiffusionModel) -> None:
    x = torch.randn(2, 1, 8, 8)
    plain = call(model, x)
    for name in ("mid.attn.0", "up.1.resnet.0"):
        with skipping(model.unet, {name}):
            assert not torch.allclose(call(model, x), plain)
        torch.testing.assert_close(call(model, x), plain, rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="boom"), skipping(model.unet, ["down.1.attn.0"]):
        raise RuntimeError("boom")
    assert all("forward" not in model.unet.get_submodule(u.path).__dict__
               for u in skippable_units(model.unet))


def test_skipped_resnet_returns_its_shortcut(model: DiffusionModel) -> None:
    block = model.unet.get_submodule("up_blocks.1.resnets.0")  # 32 -> 8 channels: conv_shortcut
    assert block.conv_shortcut is not None
    block.output_scale_factor = 2.0
    try:
        x, temb = torch.randn(1, block.in_channels, 8, 8), torch.randn(1, 32)
        with skipping(model.unet, ["up.1.resnet.0"]), torch.no_grad():
            out = block(x, temb)
            torch.testing.assert_close(out, block.conv_shortcut(x) / 2.0)
        plain_block = model.unet.get_submodule("down_blocks.0.resnets.0")  # 8 -> 8: identity
        y = torch.randn(1, 8, 8, 8)
        with skipping(model.unet, ["down.0.resnet.0"]):
            torch.testing.assert_close(plain_block(y, temb), y)
    finally:
        block.output_scale_factor = 1.0


def test_skipped_attention_returns_its_input(model: DiffusionModel) -> None:
    attention = model.unet.get_submodule("mid_block.attentions.0")
    x = torch.randn(1, 16, 4, 4)
    with skipping(model.unet, ["mid.attn.0"]):
        assert attention(x, temb=None) is x


def test_transformer_attention_keeps_its_output_type(tmp_path: Path) -> None:
    unet = tiny_condition_unet()
    transformer = unet.get_submodule("down_blocks.1.attentions.0")
    assert type(transformer).__name__ == "Transformer2DModel"
    x, context = torch.randn(1, 16, 4, 4), torch.randn(1, 3, CROSS_DIM)
    with skipping(unet, ["down.1.attn.0"]):
        assert transformer(x, encoder_hidden_states=context, return_dict=False)[0] is x
        output = transformer(x, encoder_hidden_states=context)
        assert isinstance(output, Transformer2DModelOutput) and output.sample is x
    skipper = UnitSkipper(unet)  # reuse: the recorded residual comes back in the same type
    with torch.no_grad():
        with skipper.skip((), record=["down.1.attn.0"]):
            full = transformer(x, encoder_hidden_states=context).sample
        with skipper.skip(["down.1.attn.0"]):
            reused = transformer(x, encoder_hidden_states=context, return_dict=False)
    assert isinstance(reused, tuple) and torch.allclose(reused[0], full, atol=1e-6)
    model = load_model(save_pipeline(tmp_path / "cond", unet), prompt_embeds=torch.randn(2, 3, CROSS_DIM))
    bank = NoiseBank.for_model(model, 2)
    names = [u.name for u in skippable_units(unet)]
    full = sample(model, [600, 200], bank)
    skipped = sample(model, [600, 200], bank, skip_sets=[names, ["mid.attn.0"]])
    assert skipped.shape == full.shape and not torch.allclose(skipped, full)


def test_each_skip_set_applies_at_its_own_step(model: DiffusionModel, monkeypatch: Any) -> None:
    seen: list[tuple[int, tuple[str, ...]]] = []
    units = skippable_units(model.unet)
    original = model.predict_noise

    def spy(x: torch.Tensor, t: Any, conditions: Any = None) -> torch.Tensor:
        swapped = tuple(u.name for u in units if getattr(model.unet.get_submodule(
            u.path).__dict__.get("forward"), "__name__", "") == "skipped_forward")
        seen.append((int(t), swapped))
        return original(x, t, conditions)

    monkeypatch.setattr(model, "predict_noise", spy)
    plan = [(900, ("mid.attn.0",)), (500, ()), (100, ("down.0.resnet.0", "up.0.attn.1"))]
    sample(model, [t for t, _ in plan], NoiseBank.for_model(model, 1),
           skip_sets=[s for _, s in plan])
    assert seen == plan


def test_skipping_lowers_the_cost(model: DiffusionModel) -> None:
    table = measure_macs(model)
    assert table.step_macs(["up.0.attn.0"]) < table.step_macs(())
    assert table.step_macs(["up.0.attn.0", "mid.resnet.0"]) < table.step_macs(["up.0.attn.0"])


def test_unknown_or_malformed_skip_sets_are_errors(model: DiffusionModel) -> None:
    skipper = UnitSkipper(model.unet)
    with pytest.raises(SkipSetError, match="unknown unit 'down.9.resnet.0'"):
        skipper.validate(["down.9.resnet.0"])
    with pytest.raises(SkipSetError, match="string"):
        skipper.validate("mid.attn.0")
    assert skipper.validate(["mid.attn.0", "down.0.resnet.0", "mid.attn.0"]) == (
        "down.0.resnet.0", "mid.attn.0")


def test_a_skipped_unit_reuses_its_residual_from_an_earlier_step(model: DiffusionModel) -> None:
    # Same input twice: the residual recorded at the first call is exactly the one the unit
    # would compute again, so the skipping call gives the full network's output.
    x = torch.randn(2, *model.sample_shape, generator=torch.Generator().manual_seed(3))
    full = call(model, x)
    for name in ("down.0.resnet.0", "mid.attn.0", "up.1.resnet.0"):
        skipper = UnitSkipper(model.unet)
        with skipper.skip((), record=[name]):
            assert torch.equal(call(model, x), full)  # recording changes nothing
        with skipper.skip([name]):
            assert torch.allclose(call(model, x), full, atol=1e-5), name
        skipper.new_run()  # forgotten: the paper's skip, which differs
        with skipper.skip([name]):
            assert not torch.allclose(call(model, x), full, atol=1e-3), name
        paper = UnitSkipper(model.unet, reuse=False)
        with paper.skip((), record=[name]), paper.skip([name]):
            assert not torch.allclose(call(model, x), full, atol=1e-3), name


def test_reused_residuals_stay_inside_their_batch(model: DiffusionModel) -> None:
    # step 0 skips a unit that step 1 runs: a residual leaking from the previous batch would
    # change the second batch's images
    skip_sets = [["down.1.resnet.0"], [], ["down.1.resnet.0"], []]
    bank = NoiseBank.for_model(model, 6)
    grid = [900, 600, 300, 50]
    whole = sample(model, grid, bank, "dpmpp2m", skip_sets, batch_size=6, clamp=False)
    split = sample(model, grid, bank, "dpmpp2m", skip_sets, batch_size=3, clamp=False)
    assert torch.allclose(whole, split, rtol=1e-4, atol=1e-4)  # batch size: float noise only
