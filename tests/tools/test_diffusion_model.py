from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from diffusion_tiny import CROSS_DIM, one_thread, save_pipeline, tiny_condition_unet, tiny_unet

from optograph.graph.errors import OptographError
from optograph.tools.diffusion.errors import ModelLoadError
from optograph.tools.diffusion.model import SHIPPED_MODELS, load_model

_threads = pytest.fixture(autouse=True, scope="module")(one_thread)


@pytest.fixture()
def pipeline_dir(tmp_path: Path) -> Path:
    return save_pipeline(tmp_path / "pipe", tiny_unet())


def one_line_error(error: pytest.ExceptionInfo[BaseException], *fragments: str) -> str:
    text = str(error.value)
    assert "\n" not in text
    assert isinstance(error.value, OptographError)
    for fragment in fragments:
        assert fragment in text
    return text


def test_pipeline_folder_loads_unet_and_its_schedule(pipeline_dir: Path) -> None:
    config = json.loads((pipeline_dir / "scheduler" / "scheduler_config.json").read_text())
    config["num_train_timesteps"] = 500
    (pipeline_dir / "scheduler" / "scheduler_config.json").write_text(json.dumps(config))
    model = load_model(pipeline_dir)
    assert model.device == torch.device("cpu")
    assert model.sample_shape == (1, 8, 8)
    assert model.num_train_timesteps == 500
    assert model.num_classes is None and model.num_conditions is None
    assert not model.unet.training
    x = torch.randn(2, 1, 8, 8)
    reference = tiny_unet()(x, 10).sample
    torch.testing.assert_close(model.predict_noise(x, 10), reference)


def test_bare_unet_folder_assumes_ddpm_schedule(tmp_path: Path) -> None:
    tiny_unet(num_class_embeds=3).save_pretrained(tmp_path / "bare")
    model = load_model(tmp_path / "bare")
    assert model.num_train_timesteps == 1000
    assert model.scheduler_config["beta_schedule"] == "linear"
    assert model.num_classes == 3


def test_shipped_digits_model_resolves_by_name() -> None:
    assert (SHIPPED_MODELS["digits"] / "unet" / "config.json").is_file()
    model = load_model("digits", device="cpu")
    assert model.sample_shape == (1, 16, 16)
    assert model.num_classes == 10
    assert model.num_train_timesteps == 1000
    out = model.predict_noise(torch.zeros(2, 1, 16, 16), 999, torch.tensor([0, 7]))
    assert out.shape == (2, 1, 16, 16)


def test_folder_without_diffusers_files_names_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelLoadError) as error:
        load_model(tmp_path)
    text = one_line_error(error, str(tmp_path), "unet/config.json")
    assert text.startswith("model: ")


def test_missing_weights_and_wrong_class_are_reported(pipeline_dir: Path) -> None:
    weights = pipeline_dir / "unet" / "diffusion_pytorch_model.safetensors"
    weights.rename(weights.with_suffix(".bak"))
    with pytest.raises(ModelLoadError) as error:
        load_model(pipeline_dir)
    one_line_error(error, "no weights", str(pipeline_dir / "unet"))
    config_file = pipeline_dir / "unet" / "config.json"
    config = json.loads(config_file.read_text())
    config["_class_name"] = "AutoencoderKL"
    config_file.write_text(json.dumps(config))
    with pytest.raises(ModelLoadError) as error:
        load_model(pipeline_dir)
    one_line_error(error, "AutoencoderKL", "UNet2DModel")


def test_unknown_name_is_neither_folder_nor_hub_id(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError) as error:
        load_model(str(tmp_path / "nowhere" / "x"))
    one_line_error(error, "no such folder", "digits")


def test_corrupt_config_is_a_one_line_error(pipeline_dir: Path) -> None:
    (pipeline_dir / "unet" / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError) as error:
        load_model(pipeline_dir)
    one_line_error(error, "unreadable config")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error")
def test_asking_for_cuda_without_a_gpu_is_an_error(pipeline_dir: Path) -> None:
    with pytest.raises(ModelLoadError) as error:
        load_model(pipeline_dir, device="cuda")
    one_line_error(error, "device", "no CUDA device")


def test_condition_unet_needs_prompt_embeddings(tmp_path: Path) -> None:
    folder = save_pipeline(tmp_path / "cond", tiny_condition_unet())
    with pytest.raises(ModelLoadError) as error:
        load_model(folder)
    one_line_error(error, "prompt")
    embeds = torch.randn(3, 5, CROSS_DIM)
    model = load_model(folder, prompt_embeds=embeds)
    assert model.num_conditions == 3
    x = torch.randn(2, 1, 8, 8)
    out = model.predict_noise(x, 500, torch.tensor([2, 0]))
    expected = model.unet(x, 500, encoder_hidden_states=embeds[[2, 0]]).sample
    torch.testing.assert_close(out, expected)


def test_prompts_go_through_the_encoder_and_guidance_mixes(tmp_path: Path) -> None:
    folder = save_pipeline(tmp_path / "cond", tiny_condition_unet())
    seen: list[list[str]] = []

    def encoder(prompts: list[str]) -> torch.Tensor:
        seen.append(prompts)
        return torch.stack([torch.full((5, CROSS_DIM), float(len(p))) for p in prompts])

    negative = torch.zeros(1, 5, CROSS_DIM)
    model = load_model(folder, prompts=["a cat", "a big dog"], encoder=encoder,
                       negative_prompt_embeds=negative, guidance_scale=3.0)
    assert seen == [["a cat", "a big dog"]]
    x = torch.randn(2, 1, 8, 8)
    conditional = model.unet(x, 300, encoder_hidden_states=model.prompt_embeds[[1, 1]]).sample
    unconditional = model.unet(x, 300, encoder_hidden_states=negative.expand(2, 5, -1)).sample
    guided = model.predict_noise(x, 300, torch.tensor([1, 1]))
    torch.testing.assert_close(guided, unconditional + 3.0 * (conditional - unconditional))


def test_prompts_for_an_unconditional_unet_are_rejected(pipeline_dir: Path) -> None:
    with pytest.raises(ModelLoadError) as error:
        load_model(pipeline_dir, prompt_embeds=torch.zeros(1, 2, 3))
    one_line_error(error, "prompts")


def test_copy_of_shipped_folder_loads_like_the_name(tmp_path: Path) -> None:
    copy = Path(shutil.copytree(SHIPPED_MODELS["digits"], tmp_path / "digits"))
    by_path, by_name = load_model(copy), load_model("digits")
    x = torch.randn(1, 1, 16, 16)
    labels = torch.tensor([4])
    torch.testing.assert_close(by_path.predict_noise(x, 50, labels),
                               by_name.predict_noise(x, 50, labels))
