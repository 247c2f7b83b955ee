"""FID evaluator, reference sets and their cache, feature extractors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg
from torchmetrics.image.fid import FrechetInceptionDistance

from optograph.tools.diffusion import reference as reference_module
from optograph.tools.diffusion.data import load_digits_images
from optograph.tools.diffusion.errors import DiffusionInputError
from optograph.tools.diffusion.features import DigitsFeatures, load_extractor
from optograph.tools.diffusion.fid import FIDEvaluator
from optograph.tools.diffusion.reference import (
    feature_statistics,
    load_reference_images,
    proxy_reference,
    reference_statistics,
)


@pytest.fixture(scope="module")
def extractor() -> DigitsFeatures:
    return DigitsFeatures.load()


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    train, _ = load_digits_images(split="train")
    test, _ = load_digits_images(split="test")
    return train, test


def frechet(mu1, s1, mu2, s2) -> float:
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_shipped_features_separate_digits_from_noise_and_blur(extractor, digits, tmp_path):
    train, _ = digits
    stats = reference_statistics("digits", extractor, (1, 16, 16), cache_dir=tmp_path)
    fid = FIDEvaluator(stats, extractor, device="cpu")
    real = fid(train[:300])
    noise = fid(torch.rand(300, 1, 16, 16) * 2 - 1)
    blurred = fid(torch.nn.functional.avg_pool2d(train[:300], 3, 1, 1))
    assert real * 10 < noise and real * 2 < blurred


def test_evaluator_matches_torchmetrics_fed_with_the_real_images(extractor, digits, tmp_path):
    train, test = digits
    stats = reference_statistics(test, extractor, cache_dir=tmp_path)
    ours = FIDEvaluator(stats, extractor, device="cpu")(train[:200])
    direct = FrechetInceptionDistance(feature=extractor, normalize=True)
    direct.update(test, real=True)
    direct.update(train[:200], real=False)
    fake = feature_statistics(train[:200], extractor)
    assert ours == pytest.approx(float(direct.compute()), rel=1e-3)
    assert ours == pytest.approx(frechet(fake.mean, fake.cov, stats.mean, stats.cov), rel=1e-3)


def test_evaluator_is_repeatable_across_calls(extractor, digits, tmp_path):
    train, _ = digits
    fid = FIDEvaluator(reference_statistics("digits", extractor, cache_dir=tmp_path), extractor,
                       device="cpu", batch_size=64)
    assert fid(train[:100]) == pytest.approx(fid(train[:100]), rel=1e-9)
    assert fid(train[:100]) != pytest.approx(fid(train[100:200]), rel=1e-6)


def test_reference_statistics_are_cached_by_data_and_extractor(extractor, digits, tmp_path, monkeypatch):
    _, test = digits
    first = reference_statistics(test[:100], extractor, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("statistics recomputed despite the cache")

    monkeypatch.setattr(reference_module, "feature_statistics", fail)
    again = reference_statistics(test[:100], extractor, cache_dir=tmp_path)
    np.testing.assert_array_equal(first.cov, again.cov)
    with pytest.raises(AssertionError, match="recomputed"):
        reference_statistics(test[:101], extractor, cache_dir=tmp_path)  # other data
    other = DigitsFeatures(DigitsFeatures.load().classifier)
    torch.nn.init.zeros_(other.classifier.body[-1].bias)
    with pytest.raises(AssertionError, match="recomputed"):
        reference_statistics(test[:100], other, cache_dir=tmp_path)  # other extractor


def test_array_files_and_folders_give_the_same_images(tmp_path):
    from PIL import Image

    test, _ = load_digits_images(split="test")
    as_uint8 = ((test[:40, 0] + 1) * 127.5).round().numpy().astype(np.uint8)
    np.save(tmp_path / "hw.npy", as_uint8)
    np.save(tmp_path / "nhwc.npy", as_uint8[..., None])
    np.savez(tmp_path / "set.npz", images=as_uint8[:, None].astype(np.float32) / 255.0)
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i, image in enumerate(as_uint8):
        Image.fromarray(image).save(folder / f"{i:03d}.png")
    expected = torch.from_numpy(as_uint8[:, None].astype(np.float32) / 127.5 - 1)
    for spec in ("hw.npy", "nhwc.npy", "set.npz", "pngs"):
        images = load_reference_images(tmp_path / spec, (1, 16, 16))
        assert images.shape == (40, 1, 16, 16)
        torch.testing.assert_close(images, expected, atol=1e-2, rtol=0)


def test_bad_reference_sets_get_one_line_errors_naming_the_argument(extractor, tmp_path):
    np.save(tmp_path / "small.npy", np.zeros((50, 8, 8), dtype=np.uint8))
    np.save(tmp_path / "few.npy", np.zeros((10, 16, 16), dtype=np.uint8))
    np.save(tmp_path / "range.npy", np.full((50, 16, 16), 7.0, dtype=np.float32))
    cases = [
        (tmp_path / "small.npy", "images are 1x8x8, the model makes 1x16x16"),
        (tmp_path / "few.npy", "10 images are too few for 32 features"),
        (tmp_path / "range.npy", "expected \\[0, 1\\] or \\[-1, 1\\]"),
        (tmp_path / "missing", "not 'digits', 'digits-test', an existing"),
    ]
    for spec, message in cases:
        with pytest.raises(DiffusionInputError, match=message) as error:
            reference_statistics(spec, extractor, (1, 16, 16), cache_dir=tmp_path)
        assert str(error.value).startswith("reference: ") and "\n" not in str(error.value)


def test_bad_generated_images_name_the_argument(extractor, tmp_path):
    fid = FIDEvaluator(reference_statistics("digits", extractor, cache_dir=tmp_path), extractor,
                       device="cpu")
    with pytest.raises(DiffusionInputError, match="^images: 5 images are too few"):
        fid(torch.zeros(5, 1, 16, 16))
    with pytest.raises(DiffusionInputError, match="^images: expected a \\(N, C, H, W\\)"):
        fid(torch.zeros(50, 16, 16))


def test_proxy_reference_generates_once_then_reads_the_cache(extractor, tmp_path):
    calls = []

    def generate() -> torch.Tensor:
        calls.append(1)
        return load_digits_images(split="test")[0][:80]

    first = proxy_reference(generate, extractor, "model-a|ddim100|80", cache_dir=tmp_path)
    second = proxy_reference(generate, extractor, "model-a|ddim100|80", cache_dir=tmp_path)
    assert len(calls) == 1 and second.count == first.count == 80
    proxy_reference(generate, extractor, "model-b|ddim100|80", cache_dir=tmp_path)
    assert len(calls) == 2


def test_inception_weights_missing_or_wrong_get_clear_errors(tmp_path):
    with pytest.raises(DiffusionInputError, match="^features: .*pt_inception-2015-12-05"):
        load_extractor(f"inception:{tmp_path / 'nope.pth'}")
    bogus = tmp_path / "bogus.pth"
    torch.save({"layer.weight": torch.zeros(2)}, bogus)
    with pytest.raises(DiffusionInputError, match="is not the FID InceptionV3 weights"):
        load_extractor(f"inception:{bogus}")


def test_unknown_extractor_is_refused():
    with pytest.raises(DiffusionInputError, match="^features: unknown extractor"):
        load_extractor("resnet")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_evaluator_on_cuda_matches_cpu(digits, tmp_path):
    train, _ = digits
    stats = reference_statistics("digits", DigitsFeatures.load(), cache_dir=tmp_path)
    cpu = FIDEvaluator(stats, DigitsFeatures.load(), device="cpu")(train[:200])
    gpu = FIDEvaluator(stats, DigitsFeatures.load(), device="cuda")(train[:200])
    assert gpu == pytest.approx(cpu, rel=1e-3)


def test_shipped_references_are_the_train_split_and_the_held_out_split(extractor, digits, tmp_path):
    train, test = digits
    trained_on = reference_statistics("digits", extractor, (1, 16, 16), cache_dir=tmp_path)
    held_out = reference_statistics("digits-test", extractor, (1, 16, 16), cache_dir=tmp_path)
    assert (trained_on.count, held_out.count) == (len(train), len(test))
    # a sample of the training digits is close to the "digits" reference, farther from held-out
    sample = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:400]]
    near = FIDEvaluator(trained_on, extractor, device="cpu")(sample)
    far = FIDEvaluator(held_out, extractor, device="cpu")(sample)
    assert near * 2 < far
