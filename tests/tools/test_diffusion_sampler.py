from __future__ import annotations

import pytest
import torch
from diffusers import DDIMScheduler
from diffusion_tiny import one_thread, save_pipeline, tiny_unet

from optograph.tools.diffusion.data import load_digits_images
from optograph.tools.diffusion.errors import DiffusionInputError, ScheduleError, SkipSetError
from optograph.tools.diffusion.model import DiffusionModel, load_model
from optograph.tools.diffusion.noise import NoiseBank
from optograph.tools.diffusion.sampler import (
    BASELINES,
    baseline_timesteps,
    sample,
    sample_baseline,
    validate_timesteps,
)

_threads = pytest.fixture(autouse=True, scope="module")(one_thread)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> DiffusionModel:
    folder = save_pipeline(tmp_path_factory.mktemp("sampler") / "pipe", tiny_unet(num_class_embeds=4))
    return load_model(folder, device="cpu")


@pytest.fixture(scope="module")
def bank(model: DiffusionModel) -> NoiseBank:
    return NoiseBank.for_model(model, 6, seed=3)


def reference_ddim(model: DiffusionModel, timesteps: list[int], bank: NoiseBank) -> torch.Tensor:
    """Deterministic DDIM (eta=0) written out: x_prev = sqrt(a_prev) x0 + sqrt(1-a_prev) eps,
    with a_prev = 1 after the last step."""
    alphas = DDIMScheduler.from_config(model.scheduler_config).alphas_cumprod.double()
    x = bank.noise.double()
    for index, t in enumerate(timesteps):
        eps = model.predict_noise(x.float(), t, bank.conditions).double()
        a = alphas[t]
        a_prev = alphas[timesteps[index + 1]] if index + 1 < len(timesteps) else torch.tensor(1.0)
        x0 = (x - (1 - a).sqrt() * eps) / a.sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
    return x.float()


@pytest.mark.parametrize("method", ["ddim-leading", "ddim-trailing"])
def test_order_one_solver_equals_ddim_scheduler_on_its_grid(model: DiffusionModel, bank: NoiseBank,
                                                            method: str) -> None:
    grid = baseline_timesteps(model, method, 5)
    ours = sample(model, grid, bank, solver="ddim", clamp=False)
    diffusers_ddim = sample_baseline(model, method, 5, bank, clamp=False)
    torch.testing.assert_close(ours, diffusers_ddim, atol=1e-4, rtol=1e-4)


def test_order_one_solver_is_ddim_on_an_irregular_grid(model: DiffusionModel, bank: NoiseBank) -> None:
    grid = [941, 700, 388, 120, 17, 3]
    torch.testing.assert_close(sample(model, grid, bank, clamp=False),
                               reference_ddim(model, grid, bank), atol=1e-4, rtol=1e-4)


def test_second_order_solver_differs_only_where_it_has_history(model: DiffusionModel,
                                                               bank: NoiseBank) -> None:
    # One step: both solvers take the same first-order step.
    torch.testing.assert_close(sample(model, [600], bank, solver="dpmpp2m", clamp=False),
                               sample(model, [600], bank, solver="ddim", clamp=False))
    grid = [900, 600, 300, 100]
    assert not torch.allclose(sample(model, grid, bank, solver="dpmpp2m", clamp=False),
                              sample(model, grid, bank, solver="ddim", clamp=False), atol=1e-4)


def test_same_bank_same_images_and_batching_does_not_matter(model: DiffusionModel) -> None:
    first = NoiseBank.for_model(model, 5, seed=11)
    again = NoiseBank.for_model(model, 5, seed=11)
    other = NoiseBank.for_model(model, 5, seed=12)
    grid = [800, 400, 50]
    whole = sample(model, grid, first, batch_size=64)
    torch.testing.assert_close(whole, sample(model, grid, again, batch_size=2), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(whole, sample(model, grid, other))
    assert whole.shape == (5, 1, 8, 8) and whole.abs().max() <= 1.0


def test_noise_bank_balances_and_checks_conditions(model: DiffusionModel) -> None:
    bank = NoiseBank.for_model(model, 10, seed=0)
    assert bank.conditions is not None
    assert bank.conditions.tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    with pytest.raises(DiffusionInputError, match="conditions"):
        NoiseBank.for_model(model, 3, conditions=torch.tensor([0, 1, 4]))
    with pytest.raises(DiffusionInputError, match="num_samples"):
        NoiseBank.for_model(model, 0)


def test_progress_counts_image_steps(model: DiffusionModel, bank: NoiseBank) -> None:
    seen: list[tuple[int, int]] = []
    sample(model, [700, 200], bank, batch_size=4, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (12, 12)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


@pytest.mark.parametrize("grid, fragment", [
    ([], "empty"),
    ([500, 600], "not descending"),
    ([500, 500, 3], "repeated"),
    ([1000, 10], "outside [0, 999]"),
    ([-1], "outside"),
    ([700.5, 3], "integers"),
])
def test_bad_time_steps_are_one_line_errors(model: DiffusionModel, bank: NoiseBank,
                                            grid: list[float], fragment: str) -> None:
    with pytest.raises(ScheduleError) as error:
        sample(model, grid, bank)  # type: ignore[arg-type]
    assert fragment in str(error.value) and str(error.value).startswith("timesteps: ")
    assert "\n" not in str(error.value)


def test_bad_solver_method_and_skip_sets(model: DiffusionModel, bank: NoiseBank) -> None:
    with pytest.raises(ScheduleError, match="solver"):
        sample(model, [500], bank, solver="euler")
    with pytest.raises(ScheduleError, match="method"):
        sample_baseline(model, "ddpm", 4, bank)
    with pytest.raises(ScheduleError, match="steps"):
        sample_baseline(model, "ddim-leading", 0, bank)
    with pytest.raises(ScheduleError, match="one per step"):
        sample(model, [500, 100], bank, skip_sets=[()])
    with pytest.raises(SkipSetError, match=r"skip_sets\[1\]: unknown unit 'mid.nothing'"):
        sample(model, [500, 100], bank, skip_sets=[(), ("mid.nothing",)])


def test_validate_timesteps_returns_clean_ints() -> None:
    assert validate_timesteps((999, 500.0, 0), 1000) == [999, 500, 0]


@pytest.mark.parametrize("method", sorted(BASELINES))
def test_every_baseline_samples(model: DiffusionModel, bank: NoiseBank, method: str) -> None:
    grid = baseline_timesteps(model, method, 4)
    assert len(grid) == 4 and grid == sorted(grid, reverse=True)
    images = sample_baseline(model, method, 4, bank)
    assert images.shape == (6, 1, 8, 8) and torch.isfinite(images).all()


def test_shipped_model_with_many_steps_stays_in_the_data_range() -> None:
    torch.manual_seed(0)
    model = load_model("digits", device="cpu")
    bank = NoiseBank.for_model(model, 20, seed=0)
    images = sample(model, list(range(999, -1, -25)), bank, clamp=False)
    data, _ = load_digits_images(split="test")
    # An undertrained model leaves some samples as speckle noise (|x| up to ~10).
    assert images.min() > -2.0 and images.max() < 2.0
    assert (images.abs() <= 1.05).float().mean() > 0.98
    # Mostly background like the digits: the mean grey level is close to the data's.
    assert abs(images.mean().item() - data.mean().item()) < 0.15



@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_sampling_matches_cpu_with_the_same_bank(tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = save_pipeline(tmp_path_factory.mktemp("cuda") / "pipe", tiny_unet(num_class_embeds=4))
    cpu, cuda = load_model(folder, device="cpu"), load_model(folder, device="cuda")
    bank = NoiseBank.for_model(cpu, 8, seed=5)
    grid = [950, 610, 280, 40]
    on_cuda = sample(cuda, grid, bank, skip_sets=[(), ("mid.attn.0",), (), ()])
    assert on_cuda.device.type == "cuda"
    torch.testing.assert_close(on_cuda.cpu(), sample(cpu, grid, bank, skip_sets=[(), ("mid.attn.0",), (), ()]),
                               atol=2e-2, rtol=0)
