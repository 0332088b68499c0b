"""Noise statistics on numpy images and torch batches (gaussian, poisson, nlf, s&p, speckle)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from restorekit.degrade import NLF, Gaussian, Poisson, SaltPepper, Speckle, parse_spec

N = 1000  # 1000 x 1000 = 10^6 pixels


def _flat(value: float) -> np.ndarray:
    return np.full((N, N), value, dtype=np.float32)


def _as_batch(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img)[None, None]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("sigma", [5.0, 25.0, 50.0])
def test_gaussian_std_and_mean(backend: str, sigma: float) -> None:
    x = _flat(0.5)
    inp = x if backend == "numpy" else _as_batch(x)
    y, params = Gaussian(sigma=sigma)(inp, rng=7)
    noise = np.asarray(y, dtype=np.float64).reshape(-1) - 0.5
    std = sigma / 255
    assert abs(noise.std() / std - 1) < 0.02
    assert abs(noise.mean()) < 5 * std / N  # 5 standard errors of the mean
    assert params == {"name": "gaussian", "sigma": sigma, "clip": False}


def test_gaussian_clip_convention(gray_image: np.ndarray) -> None:
    y, _ = Gaussian(sigma=50)(gray_image, rng=1)
    assert y.min() < 0 or y.max() > 1  # AWGN default: no clipping
    y, _ = Gaussian(sigma=50, clip=True)(gray_image, rng=1)
    assert y.min() >= 0 and y.max() <= 1


def test_clip_drawn_per_call_and_per_image_of_a_batch() -> None:
    """``clip=true|false`` (training on both conventions): numpy draws once per call, a torch
    batch once per image, and each image is clipped exactly when its flag says so."""
    spec = parse_spec("gaussian:sigma=50,clip=true|false")
    flags = [spec(np.zeros((8, 8), np.float32), rng=i)[1]["clip"] for i in range(200)]
    assert 0.35 < np.mean(flags) < 0.65
    y, params = spec(torch.zeros(64, 1, 16, 16), rng=3)
    clipped = np.asarray(params["clip"])
    assert clipped.shape == (64,) and 0 < clipped.sum() < 64
    lowest = y.amin(dim=(1, 2, 3)).numpy()
    assert np.array_equal(lowest >= 0, clipped)  # unclipped zero images go negative


@pytest.mark.parametrize("spec", ["salt-pepper:per-channel=true|false",
                                  "box-noise:box=0,0,4,4,random=true|false",
                                  "gaussian:clip=true-false"])
def test_other_bools_refuse_choices(spec: str) -> None:
    from restorekit.errors import SpecError

    with pytest.raises(SpecError, match="expected true or false"):
        parse_spec(spec)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("peak", [4.0, 30.0])
def test_poisson_mean_and_variance(backend: str, peak: float) -> None:
    x = _flat(0.5)
    y, params = Poisson(peak=peak)(x if backend == "numpy" else _as_batch(x), rng=3)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    assert abs(y.mean() - 0.5) < 0.002
    assert abs(y.var() / (0.5 / peak) - 1) < 0.02
    assert np.allclose(y * peak, np.round(y * peak), atol=1e-4)  # photon counts / peak
    assert params["peak"] == peak


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_nlf_variance_follows_b1_y_plus_b2(backend: str) -> None:
    b1, b2 = 0.01, 0.0004
    levels = (0.3, 0.5, 0.7)
    x = np.concatenate([np.full((N // 3, N), v, np.float32) for v in levels])
    y, params = NLF(b1=b1, b2=b2)(x if backend == "numpy" else _as_batch(x), rng=11)
    y = np.asarray(y, dtype=np.float64).reshape(x.shape)
    for i, v in enumerate(levels):
        band = y[i * (N // 3) : (i + 1) * (N // 3)]
        assert abs(band.mean() - v) < 0.002
        assert abs(band.var() / (b1 * v + b2) - 1) < 0.03
    assert params == {"name": "nlf", "b1": b1, "b2": b2, "clip": True}
    assert y.min() >= 0 and y.max() <= 1


def test_nlf_alias_and_zero_signal() -> None:
    assert parse_spec("poisson-gaussian:b1=0.02,b2=0.001") == NLF(b1=0.02, b2=0.001)
    y, _ = NLF(b1=0.5, b2=0.0, clip=False)(np.zeros((50, 50), np.float32), rng=0)
    assert np.all(y == 0)  # variance b1*0 + 0 = 0: black stays black


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_salt_pepper_fraction_and_ratio(backend: str) -> None:
    x = _flat(0.5)
    y, _ = SaltPepper(amount=0.2, ratio=0.3)(x if backend == "numpy" else _as_batch(x), rng=5)
    y = np.asarray(y).reshape(-1)
    salt, pepper = np.mean(y == 1.0), np.mean(y == 0.0)
    assert abs(salt + pepper - 0.2) < 0.003
    assert abs(salt / (salt + pepper) - 0.3) < 0.01
    assert np.all((y == 0) | (y == 1) | (y == 0.5))


def test_salt_pepper_whole_pixels_on_colour(rgb_image: np.ndarray) -> None:
    y, _ = SaltPepper(amount=0.3)(rgb_image, rng=2)
    changed = y != rgb_image
    hit = np.all(y == 1, axis=-1) | np.all(y == 0, axis=-1)
    assert np.all(changed.any(axis=-1) <= hit)  # every changed pixel is all-1 or all-0
    y, _ = SaltPepper(amount=0.3, per_channel=True)(rgb_image, rng=2)
    impulse = (y == 0) | (y == 1)
    mixed = impulse.any(axis=-1) & ~impulse.all(axis=-1)
    assert mixed.mean() > 0.2  # channels are corrupted independently


def test_salt_pepper_torch_batch_whole_pixels() -> None:
    x = torch.full((2, 3, 40, 40), 0.5)
    y, _ = SaltPepper(amount=0.5)(x, rng=0)
    same = (y == y[:, :1]).all(dim=1)
    assert bool(same.all())  # all channels of a pixel agree
    assert 0.4 < float((y[:, 0] != 0.5).float().mean()) < 0.6


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_speckle_variance(backend: str) -> None:
    x = _flat(0.5)
    y, params = Speckle(sigma=0.2)(x if backend == "numpy" else _as_batch(x), rng=9)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    assert abs(y.mean() - 0.5) < 0.001
    assert abs(y.std() / (0.5 * 0.2) - 1) < 0.02
    assert params["sigma"] == 0.2
    y0, _ = Speckle(sigma=0.5)(np.zeros((10, 10), np.float32), rng=0)
    assert np.all(y0 == 0)  # multiplicative: black stays black


def test_noise_keeps_dtype_and_shape(rgb_image: np.ndarray) -> None:
    for d in (Gaussian(10), Poisson(10), NLF(), SaltPepper(0.1), Speckle(0.1)):
        y, _ = d(rgb_image.astype(np.float64), rng=0)
        assert y.dtype == np.float64 and y.shape == rgb_image.shape
        t = torch.from_numpy(rgb_image).permute(2, 0, 1)[None].double()
        yt, _ = d(t, rng=0)
        assert yt.dtype == torch.float64 and yt.shape == t.shape


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_noise_on_cuda() -> None:
    x = torch.full((1, 1, 256, 256), 0.5, device="cuda")
    for d in (Gaussian(25), Poisson(10), NLF(), SaltPepper(0.1), Speckle(0.1)):
        y, _ = d(x, rng=0)
        assert y.device == x.device
