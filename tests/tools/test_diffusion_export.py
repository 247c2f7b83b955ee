"""A searched schedule exported for diffusers: the exported scheduler (and UNet wrapper) in the
scheduler's own step loop gives the images of the project's sampler on the same noise."""

from __future__ import annotations

import json

import pytest
import torch
from diffusers import UNet2DModel
from diffusion_tiny import one_thread, save_pipeline, tiny_unet

from optograph.tasks.cli import main
from optograph.tools.diffusion.errors import DiffusionInputError
from optograph.tools.diffusion.export import SkippingUNet, export_result
from optograph.tools.diffusion.model import load_model
from optograph.tools.diffusion.noise import NoiseBank
from optograph.tools.diffusion.sampler import SOLVERS, sample
from optograph.tools.diffusion.skips import skippable_units

_threads = pytest.fixture(autouse=True, scope="module")(one_thread)
TIMESTEPS = [900, 520, 260, 40]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_pipeline(tmp_path_factory.mktemp("tiny"), tiny_unet(num_class_embeds=10))


def diffusers_loop(scheduler, unet, bank: NoiseBank) -> torch.Tensor:
    """The step loop of a diffusers pipeline (DDPMPipeline's, with class labels)."""
    sample_ = bank.noise * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        model_input = scheduler.scale_model_input(sample_, t)
        output = unet(model_input, t, class_labels=bank.conditions).sample
        sample_ = scheduler.step(output, t, sample_).prev_sample
    return sample_


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("skips", [False, True])
def test_exported_scheduler_gives_the_samplers_images(folder, solver, skips):
    model = load_model(folder, "cpu")
    units = [u.name for u in skippable_units(model.unet)]
    skip_sets = [[units[0], units[-1]], [], [units[1]], []] if skips else [[]] * 4
    result = {"timesteps": TIMESTEPS, "skip_sets": skip_sets, "solver": solver,
              "config": {"model": str(folder)}}
    bank = NoiseBank.for_model(model, 6, seed=3)
    ours = sample(model, TIMESTEPS, bank, solver, skip_sets, clamp=False)
    exported = export_result(result)  # the model named in the result
    assert [int(t) for t in exported.scheduler.timesteps] == TIMESTEPS
    unet = UNet2DModel.from_pretrained(folder / "unet").eval()
    wrapped = exported.wrap(unet)
    assert isinstance(wrapped, SkippingUNet) == skips
    with torch.no_grad():
        theirs = diffusers_loop(exported.scheduler, wrapped, bank)
    torch.testing.assert_close(theirs, ours, rtol=1e-4, atol=1e-5)
    if skips:  # the skip sets matter: without the wrapper the images differ
        with torch.no_grad():
            plain = diffusers_loop(export_result(result).scheduler, unet, bank)
        assert not torch.allclose(plain, ours, atol=1e-3)


@pytest.mark.parametrize("solver", ["dpmpp2m", "unipc"])
def test_the_export_command_writes_what_from_pretrained_loads(folder, tmp_path, capsys, solver):
    result = tmp_path / "result.json"
    result.write_text(json.dumps({"timesteps": TIMESTEPS, "skip_sets": [[]] * 4,
                                  "solver": solver, "config": {"model": str(folder)}}))
    assert main(["diffusion", "export", str(result), "--out", str(tmp_path / "exp")]) == 0
    out = capsys.readouterr().out
    # the printed lines, as a user pastes them (all but the UNet line, which needs a pipeline)
    snippet = out[out.index("import json"):].splitlines()
    names: dict = {}
    exec("\n".join(line for line in snippet if "pipeline" not in line), names)  # noqa: S102
    scheduler = names["scheduler"]
    assert type(scheduler).__name__ == {"dpmpp2m": "DPMSolverMultistepScheduler",
                                        "unipc": "GridUniPCScheduler"}[solver]
    model = load_model(folder, "cpu")
    bank = NoiseBank.for_model(model, 4, seed=1)
    ours = sample(model, TIMESTEPS, bank, solver, clamp=False)
    with torch.no_grad():
        theirs = diffusers_loop(scheduler, model.unet, bank)
    torch.testing.assert_close(theirs, ours, rtol=1e-4, atol=1e-5)


def test_bad_results_are_one_line_errors(folder, tmp_path, capsys):
    with pytest.raises(DiffusionInputError, match="^result: .*unknown solver 'euler'"):
        export_result({"timesteps": TIMESTEPS, "solver": "euler"}, folder)
    with pytest.raises(DiffusionInputError, match="^timesteps: 1200 is outside"):
        export_result({"timesteps": [1200, 10], "solver": "ddim"}, folder)
    assert main(["diffusion", "export", str(tmp_path / "missing.json")]) == 2
    assert "--result" not in capsys.readouterr().err  # a positional: named as the file
    listed = tmp_path / "list.json"
    listed.write_text("[999, 500]")  # JSON, but not a search result
    assert main(["diffusion", "export", str(listed)]) == 2
    error = capsys.readouterr().err.strip()
    assert "list.json: not a readable result.json" in error and "\n" not in error
