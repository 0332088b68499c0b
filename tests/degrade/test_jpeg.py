"""JPEG round trip: quality, gray/colour modes, alpha, subsampling, torch batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from restorekit.degrade import JPEG, jpeg_roundtrip, parse_spec


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return 10 * np.log10(1.0 / mse)


def _textured(gray: np.ndarray) -> np.ndarray:
    noise = np.random.default_rng(0).uniform(-0.15, 0.15, gray.shape)
    return np.clip(gray + noise, 0, 1).astype(np.float32)


def _smooth(channels: int) -> np.ndarray:
    y, x = np.mgrid[0:64, 0:48].astype(np.float32)
    planes = [0.5 + 0.3 * np.sin(x / (7.0 + c) + c) * np.cos(y / (9.0 - c)) for c in range(3)]
    img = np.stack(planes, axis=-1).astype(np.float32)
    return img[..., 0] if channels == 1 else img


@pytest.mark.parametrize("channels", [1, 3])
def test_quality_100_near_lossless_and_10_much_worse(channels: int) -> None:
    x = _smooth(channels)
    hi, params = JPEG(quality=100)(x, rng=0)
    lo, _ = JPEG(quality=10)(x, rng=0)
    assert _psnr(hi, x) > 40
    assert _psnr(lo, x) < _psnr(hi, x) - 8
    assert params == {"name": "jpeg", "quality": 100, "subsampling": "4:2:0"}


def test_quality_orders_error(gray_image: np.ndarray) -> None:
    x = _textured(gray_image)
    scores = [_psnr(jpeg_roundtrip(x, q), x) for q in (10, 30, 60, 95)]
    assert scores == sorted(scores)


def test_output_is_8_bit_and_gray_stays_gray(gray_image: np.ndarray) -> None:
    y, _ = JPEG(50)(gray_image, rng=0)
    assert y.shape == gray_image.shape and y.dtype == np.float32
    np.testing.assert_allclose(y * 255, np.round(y * 255), atol=1e-3)
    y1, _ = JPEG(50)(gray_image[..., None], rng=0)
    assert y1.shape == (64, 48, 1)
    np.testing.assert_array_equal(y1[..., 0], y)


def test_alpha_is_carried_through(rgb_image: np.ndarray) -> None:
    alpha = np.linspace(0, 1, 64 * 48, dtype=np.float32).reshape(64, 48, 1)
    y, _ = JPEG(20)(np.concatenate([rgb_image, alpha], axis=-1), rng=0)
    assert y.shape == (64, 48, 4)
    np.testing.assert_array_equal(y[..., 3:], alpha)
    np.testing.assert_array_equal(y[..., :3], jpeg_roundtrip(rgb_image, 20))


def test_subsampling_option(rgb_image: np.ndarray) -> None:
    x = np.stack([_textured(rgb_image[..., i]) for i in range(3)], axis=-1)
    full = _psnr(parse_spec("jpeg:quality=90,subsampling=4:4:4")(x, rng=0)[0], x)
    sub = _psnr(parse_spec("jpeg:quality=90")(x, rng=0)[0], x)
    assert full > sub + 1


def test_deterministic_and_pure(gray_image: np.ndarray) -> None:
    before = gray_image.copy()
    a, _ = JPEG(30)(gray_image, rng=1)
    b, _ = JPEG(30)(gray_image, rng=2)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(gray_image, before)


def test_torch_batch_matches_numpy(rgb_image: np.ndarray) -> None:
    batch = torch.from_numpy(np.stack([rgb_image, rgb_image[::-1].copy()])).permute(0, 3, 1, 2)
    y, _ = JPEG(25)(batch, rng=0)
    assert y.shape == batch.shape and y.dtype == batch.dtype
    for i in range(2):
        expected = jpeg_roundtrip(batch[i].permute(1, 2, 0).numpy(), 25)
        np.testing.assert_array_equal(y[i].permute(1, 2, 0).numpy(), expected)


def test_sampled_quality_per_image_on_batches(gray_image: np.ndarray) -> None:
    batch = torch.from_numpy(gray_image)[None, None].repeat(5, 1, 1, 1)
    y, params = parse_spec("jpeg:quality=10-90")(batch, rng=0)
    qs = params["quality"]
    assert isinstance(qs, list) and len(qs) == 5 and all(10 <= q <= 90 for q in qs)
    for i, q in enumerate(qs):
        np.testing.assert_array_equal(y[i, 0].numpy(), jpeg_roundtrip(gray_image, q))
