"""restorekit.noise_estimation: single sigma (0-255 scale) and the NLF sigma^2(y) = b1*y + b2."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from PIL import Image

from restorekit.noise_estimation import (
    NLF,
    estimate_sigma,
    estimate_sigma_per_channel,
    fit_nlf_pair,
    fit_nlf_single,
)

LEVELS = (5, 10, 15, 25, 35, 50)
YS = np.linspace(0.1, 0.9, 9)


def _camera() -> np.ndarray:
    return skimage.data.camera() / 255.0


def _synthetic(size: int = 256) -> np.ndarray:
    """Smooth shading, hard edges and a band of fine texture, in [0.05, 0.95]."""
    y, x = np.mgrid[0:size, 0:size] / size
    img = 0.5 + 0.25 * np.sin(6 * x) * np.cos(4 * y)
    img[size // 4 : size // 2, size // 5 : size // 2] += 0.2
    img[:, 3 * size // 4 :] += 0.08 * np.sin(2 * np.pi * np.arange(size) / 5.3)[:, None]
    return np.clip(img, 0.05, 0.95)


def _awgn(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return (img + rng.standard_normal(img.shape) * sigma / 255).astype(np.float32)


def _nlf_noise(img: np.ndarray, b1: float, b2: float, rng: np.random.Generator) -> np.ndarray:
    return np.clip(img + np.sqrt(b1 * img + b2) * rng.standard_normal(img.shape), 0, 1)


def _mean_rel_error(images: list[np.ndarray], rng: np.random.Generator) -> float:
    errs = [abs(estimate_sigma(_awgn(im, s, rng)) / s - 1) for im in images for s in LEVELS]
    return float(np.mean(errs))


# ------------------------------------------------------------------------------ estimate_sigma


@pytest.mark.parametrize("name", ["synthetic", "camera"])
def test_estimate_sigma_synthetic_awgn(name, rng):
    img = _synthetic() if name == "synthetic" else _camera()
    assert _mean_rel_error([img], rng) < 0.10


def test_estimate_sigma_set12_requirement(dataset, rng):
    """The acceptance requirement: Set12, AWGN 5..50 unclipped, mean |relative error| < 10 %."""
    files = sorted(dataset("set12").glob("*.png"))
    assert len(files) == 12
    images = [np.asarray(Image.open(f).convert("L"), dtype=np.float64) / 255 for f in files]
    assert _mean_rel_error(images, rng) < 0.10


def test_estimate_sigma_rgb_per_channel(rng):
    img = skimage.data.astronaut()[:256, :256] / 255.0
    sigmas = np.array([5.0, 15.0, 30.0])
    noisy = img + rng.standard_normal(img.shape) * sigmas / 255
    per = np.array(estimate_sigma_per_channel(noisy))
    assert per.shape == (3,)
    assert np.all(np.abs(per / sigmas - 1) < 0.15)
    assert estimate_sigma(noisy) == pytest.approx(per.mean())
    rgba = np.concatenate([noisy, np.ones(noisy.shape[:2] + (1,))], axis=2)
    assert estimate_sigma_per_channel(rgba) == pytest.approx(per.tolist())  # alpha ignored


def test_estimate_sigma_dtypes_and_scale(rng):
    noisy = np.clip(_synthetic() + rng.standard_normal((256, 256)) * 20 / 255, 0, 1)
    as_u8 = (noisy * 255).round().astype(np.uint8)
    assert estimate_sigma(as_u8) == pytest.approx(20, rel=0.1)
    assert estimate_sigma(as_u8[..., None]) == pytest.approx(estimate_sigma(as_u8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        estimate_sigma(noisy * 255)  # 0-255 floats are a unit mistake, not a noise level


def test_estimate_sigma_clipped_noise_is_graceful(rng):
    """Clipped noise is biased low only a little: patches touching 0 or 1 are skipped."""
    img = _camera()  # has dark and bright regions
    for sigma in (15, 30, 50):
        noisy = np.clip(img + rng.standard_normal(img.shape) * sigma / 255, 0, 1)
        assert estimate_sigma(noisy) == pytest.approx(sigma, rel=0.1)


def test_precomputed_texture_threshold_matches_its_formula():
    from restorekit import noise_estimation as ne

    computed = ne._texture_threshold_formula(ne._PATCH, ne._CONFIDENCE)
    assert ne._texture_threshold(ne._PATCH, ne._CONFIDENCE) == pytest.approx(computed, rel=1e-9)
    assert ne._texture_threshold(5, 0.99) == ne._texture_threshold_formula(5, 0.99) < computed


def test_estimate_sigma_noise_free_and_errors():
    assert estimate_sigma(np.full((64, 64), 0.3)) == 0.0
    assert estimate_sigma(_synthetic()) < 0.5
    with pytest.raises(ValueError, match="too small"):
        estimate_sigma(np.zeros((1, 20)))
    with pytest.raises(ValueError, match="NaN"):
        estimate_sigma(np.full((64, 64), np.nan))


# -------------------------------------------------------------------------------------- NLF


PARAMS = [(0.01, 0.0004), (0.004, 0.0001), (0.0, 0.0016), (0.02, 0.0)]


def _close(fit: NLF, b1: float, b2: float, rel: float) -> None:
    """Non-zero parameters within ``rel``; a zero one contributes less than ``rel`` of the true
    variance at y = 0.5."""
    total = b1 * 0.5 + b2
    for got, want, weight in ((fit.b1, b1, 0.5), (fit.b2, b2, 1.0)):
        if want:
            assert got == pytest.approx(want, rel=rel)
        else:
            assert got * weight <= rel * total


@pytest.mark.parametrize(("b1", "b2"), PARAMS)
def test_fit_nlf_pair_recovers_parameters(b1, b2, rng):
    clean = _camera()
    fit = fit_nlf_pair(_nlf_noise(clean, b1, b2, rng), clean)
    _close(fit, b1, b2, rel=0.15)
    assert fit.b1 >= 0 and fit.b2 >= 0 and fit.channels == ()


def test_fit_nlf_pair_rgb_joint_and_per_channel(rng):
    clean = skimage.data.astronaut()[:256, :256] / 255.0
    fit = fit_nlf_pair(_nlf_noise(clean, 0.01, 0.0004, rng), clean)
    assert len(fit.channels) == 3
    _close(fit, 0.01, 0.0004, rel=0.15)
    for ch in fit.channels:
        _close(ch, 0.01, 0.0004, rel=0.25)


def test_fit_nlf_pair_matches_the_nlf_degradation():
    """Same convention as the ``nlf`` degradation (restorekit.degrade)."""
    degrade = pytest.importorskip("restorekit.degrade").degrade
    clean = _camera().astype(np.float32)
    noisy, _ = degrade(clean, NLF(0.01, 0.0004).spec(), 7)
    _close(fit_nlf_pair(noisy, clean), 0.01, 0.0004, rel=0.15)


def test_fit_nlf_pair_noise_free_and_errors():
    clean = _camera()
    assert fit_nlf_pair(clean, clean) == NLF(0.0, 0.0)
    with pytest.raises(ValueError, match="does not match"):
        fit_nlf_pair(clean, clean[:-1])
    with pytest.raises(ValueError, match="bins"):
        fit_nlf_pair(clean, clean, bins=1)


@pytest.mark.parametrize(("b1", "b2"), PARAMS)
def test_fit_nlf_single(b1, b2, rng):
    """Looser tolerance than the pair fit: the NLF curve sigma(y), y in [0.1, 0.9], within 10 %
    on average and b1 within 25 % (b1 and b2 trade off, so b2 alone is loosely determined)."""
    clean = _camera()
    fit = fit_nlf_single(_nlf_noise(clean, b1, b2, rng))
    true = np.sqrt(b1 * YS + b2)
    assert np.mean(np.abs(fit.sigma(YS) / true - 1)) < 0.10
    if b1:
        assert fit.b1 == pytest.approx(b1, rel=0.25)
    else:
        assert fit.b1 * 0.5 < 0.25 * b2


def test_fit_nlf_single_rgb(rng):
    clean = skimage.data.astronaut()[:256, :256] / 255.0
    fit = fit_nlf_single(_nlf_noise(clean, 0.01, 0.0004, rng))
    assert len(fit.channels) == 3
    true = np.sqrt(0.01 * YS + 0.0004)
    for f in (fit, *fit.channels):
        assert np.mean(np.abs(f.sigma(YS) / true - 1)) < 0.15


def test_fit_nlf_single_noise_free_is_near_zero():
    fit = fit_nlf_single(_synthetic())
    assert fit.sigma_255(0.5) < 0.5  # less than half a gray level
    assert fit_nlf_single(np.full((64, 64), 0.4)) == NLF(0.0, 0.0)


def test_nlf_helpers():
    nlf = NLF(0.01, 0.0004)
    assert nlf.variance(0.5) == pytest.approx(0.0054)
    assert nlf.sigma(0.5) == pytest.approx(np.sqrt(0.0054))
    assert nlf.sigma_255(0.5) == pytest.approx(255 * np.sqrt(0.0054))
    assert isinstance(nlf.sigma(0.5), float)
    np.testing.assert_allclose(nlf.sigma(YS), np.sqrt(0.01 * YS + 0.0004))
    assert nlf.spec() == "nlf:b1=0.01,b2=0.0004"
    text = str(NLF(0.01, 0.0004, channels=(nlf, nlf, nlf)))
    assert "b1=0.01" in text and "b2=0.0004" in text and "per channel" in text



def test_tiny_images_fall_back_to_mad_estimate() -> None:
    """MNIST-sized images are too small for patch PCA; the MAD fallback still lands near."""
    from restorekit.noise_estimation import estimate_sigma as est

    y, x = np.mgrid[0:28, 0:28]
    clean = 0.5 + 0.2 * np.sin(x / 5.0)
    rng = np.random.default_rng(3)
    errors = [abs(est(clean + rng.normal(0, 25 / 255, clean.shape)) - 25) / 25 for _ in range(20)]
    assert np.mean(errors) < 0.2


def test_banded_estimate_equals_the_whole_image_one(rng, monkeypatch):
    """Bands of patch rows bound the memory; the estimate must not depend on them."""
    from restorekit import noise_estimation as ne

    tall = np.tile(_synthetic(), (3, 1))[:700]  # 700 rows: bands 0-255, 256-511, 512-693
    noisy = tall + rng.standard_normal(tall.shape) * 15 / 255
    noisy[:40] = 1.0  # a saturated strip: clipped patches are skipped band by band too
    as_u16 = (np.clip(noisy, 0, 1) * 65535).round().astype(np.uint16)
    images = [noisy, as_u16, np.stack([noisy] * 3, -1)]
    banded = [estimate_sigma(x) for x in images]
    monkeypatch.setattr(ne, "_BAND_ROWS", 10**6)
    whole = [estimate_sigma(x) for x in images]
    assert banded == pytest.approx(whole, rel=1e-9)
    assert banded[0] == pytest.approx(15, rel=0.1)
