"""Resampling: MATLAB-style imresize kernels, exact nearest, shapes, torch parity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from restorekit.degrade import Resample, downscale, parse_spec, upscale
from restorekit.errors import SpecError


def _blocky(h: int, w: int, s: int, channels: int = 0, seed: int = 0) -> np.ndarray:
    """An image constant on s x s blocks (the last blocks may be partial)."""
    rng = np.random.default_rng(seed)
    shape = (-(-h // s), -(-w // s)) + ((channels,) if channels else ())
    small = rng.uniform(0, 1, shape).astype(np.float32)
    big = np.repeat(np.repeat(small, s, axis=0), s, axis=1)
    return np.ascontiguousarray(big[:h, :w])


def _smooth(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return (0.5 + 0.3 * np.sin(x / 11.0) * np.cos(y / 13.0)).astype(np.float32)


@pytest.mark.parametrize("s", [2, 3, 4])
@pytest.mark.parametrize("size", [(64, 48), (65, 47)])
@pytest.mark.parametrize("channels", [0, 3])
def test_nearest_down_up_is_exact_on_constant_blocks(s: int, size: tuple, channels: int) -> None:
    x = _blocky(*size, s, channels)
    y, params = parse_spec(f"resample:scale={s},down=nearest,up=nearest")(x, rng=0)
    np.testing.assert_array_equal(y, x)
    assert params["lr_shape"] == (-(-size[0] // s), -(-size[1] // s))
    np.testing.assert_array_equal(downscale(x, s, "nearest"), x[::s, ::s])  # one value per block


def test_nearest_exact_on_torch_batches() -> None:
    x = np.stack([_blocky(65, 47, 3, 3), _blocky(65, 47, 3, 3, seed=1)])
    t = torch.from_numpy(x).permute(0, 3, 1, 2)
    y, _ = Resample(3, down="nearest", up="nearest")(t, rng=0)
    assert torch.equal(y, t)


@pytest.mark.parametrize("kernel", ["bicubic", "bilinear"])
def test_smooth_image_survives_down_up(kernel: str) -> None:
    x = _smooth(96, 80)
    y, _ = Resample(2, down=kernel, up=kernel)(x, rng=0)
    assert np.abs(y - x)[4:-4, 4:-4].max() < 0.01
    assert np.abs(y - x).mean() < 0.005


def test_output_shape_equals_input_for_odd_sizes(rgb_image: np.ndarray) -> None:
    x = np.random.default_rng(0).uniform(0, 1, (65, 47, 3)).astype(np.float32)
    for spec in ("resample:scale=3", "resample:scale=2.5", "resample:scale=4,down=bilinear"):
        y, params = parse_spec(spec)(x, rng=0)
        assert y.shape == x.shape and y.dtype == np.float32
        assert 0 <= y.min() and y.max() <= 1
    assert downscale(x, 3).shape == (22, 16, 3)
    assert upscale(downscale(x, 3), 3).shape == (66, 48, 3)
    assert upscale(downscale(x, 3), 3, size=(65, 47)).shape == (65, 47, 3)


def test_bicubic_matches_matlab_antialiased_kernel() -> None:
    """MATLAB imresize(x, 0.5, 'bicubic') weights: [-0.01171875 -0.03515625 0.11328125
    0.43359375] mirrored, i.e. Keys a = -0.5 stretched by 2 (antialiasing)."""
    x = np.zeros((32, 32), np.float32)
    x[10, 10] = 1.0
    y = downscale(x, 2, "bicubic", clip=False)
    k = np.array([-0.01171875, 0.11328125, 0.43359375, -0.03515625])  # LR pixels 3..6
    np.testing.assert_allclose(y[3:7, 3:7], np.outer(k, k), atol=1e-7)
    assert np.abs(y).sum() - np.abs(y[3:7, 3:7]).sum() < 1e-7


def test_bicubic_upscale_kernel() -> None:
    x = np.zeros((16, 16), np.float32)
    x[8, 8] = 1.0
    y = upscale(x, 2, "bicubic", clip=False)
    k = np.array(
        [-0.0234375, -0.0703125, 0.2265625, 0.8671875, 0.8671875, 0.2265625, -0.0703125, -0.0234375]
    )  # HR pixels 13..20 around LR pixel 8
    np.testing.assert_allclose(y[13:21, 13:21], np.outer(k, k), atol=1e-7)


@pytest.mark.parametrize("kernel", ["bicubic", "bilinear"])
def test_linear_ramp_sampled_at_pixel_centres(kernel: str) -> None:
    ramp = np.tile(np.arange(40, dtype=np.float32) / 100, (8, 1))
    y = downscale(ramp, 2, kernel, clip=False)
    centres = (2 * np.arange(20) + 0.5) / 100  # LR pixel j covers HR pixels 2j, 2j+1
    np.testing.assert_allclose(y[0, 3:-3], centres[3:-3], atol=1e-6)


@pytest.mark.parametrize("kernel", ["nearest", "bilinear", "bicubic"])
@pytest.mark.parametrize("s", [1, 2, 2.5, 3, 4])
def test_constant_stays_constant(kernel: str, s: float) -> None:
    x = np.full((37, 29), 0.3, np.float32)
    y, _ = Resample(s, down=kernel, up=kernel)(x, rng=0)
    np.testing.assert_allclose(y, 0.3, atol=1e-6)


def test_scale_one_is_identity(gray_image: np.ndarray) -> None:
    np.testing.assert_allclose(downscale(gray_image, 1), gray_image, atol=1e-7)
    np.testing.assert_allclose(upscale(gray_image, 1), gray_image, atol=1e-7)


def test_upscale_size_is_a_crop_of_the_same_grid(gray_image: np.ndarray) -> None:
    small = downscale(gray_image, 3)
    np.testing.assert_allclose(upscale(small, 3, size=(50, 40)), upscale(small, 3)[:50, :40])


def test_torch_matches_numpy(rgb_image: np.ndarray) -> None:
    t = torch.from_numpy(rgb_image).permute(2, 0, 1)[None]
    for kernel in ("nearest", "bilinear", "bicubic"):
        a = downscale(rgb_image, 3, kernel)
        b = downscale(t, 3, kernel)[0].permute(1, 2, 0).numpy()
        np.testing.assert_allclose(a, b, atol=1e-6)
        ya, _ = Resample(2.5, down=kernel, up=kernel)(rgb_image, rng=0)
        yb, _ = Resample(2.5, down=kernel, up=kernel)(t, rng=0)
        np.testing.assert_allclose(ya, yb[0].permute(1, 2, 0).numpy(), atol=1e-6)


def test_sampled_scale_recorded(gray_image: np.ndarray) -> None:
    d = parse_spec("resample:scale=2|3|4")
    seen = set()
    for seed in range(20):
        _, params = d(gray_image, rng=seed)
        s = params["scale"]
        seen.add(s)
        assert params["lr_shape"] == (-(-64 // int(s)), -(-48 // int(s)))
    assert seen == {2.0, 3.0, 4.0}
    batch = torch.from_numpy(gray_image)[None, None].repeat(6, 1, 1, 1)
    y, params = d(batch, rng=0)
    assert y.shape == batch.shape and len(params["scale"]) == 6
    for i, s in enumerate(params["scale"]):
        expected, _ = Resample(s)(gray_image, rng=0)
        np.testing.assert_allclose(y[i, 0].numpy(), expected, atol=1e-6)


def test_bad_scale_and_kernel(gray_image: np.ndarray) -> None:
    with pytest.raises(SpecError, match="0.5"):
        downscale(gray_image, 0.5)
    with pytest.raises(SpecError, match="lanczos"):
        upscale(gray_image, 2, "lanczos")
    with pytest.raises(SpecError, match="lanczos"):
        parse_spec("resample:scale=2,down=lanczos")
