"""restorekit.metrics: agreement with scikit-image and between torch and numpy; Y and crop."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import skimage.data
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from restorekit.metrics import mse, psnr, psnr_torch, rmse, ssim, ssim_torch

SHAPES = [(11, 11), (32, 32), (33, 47), (64, 51, 3), (101, 77, 3), (20, 13, 3), (40, 40, 1)]


def _sk_ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    return structural_similarity(
        a,
        b,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=data_range,
        channel_axis=2 if a.ndim == 3 else None,
    )


def _natural(shape: tuple[int, ...]) -> np.ndarray:
    """A crop of a bundled scikit-image photo, gray or RGB, float32 in [0, 1]."""
    h, w = shape[:2]
    if len(shape) == 2:
        img = skimage.data.camera()[100 : 100 + h, 150 : 150 + w]
    else:
        img = skimage.data.astronaut()[50 : 50 + h, 120 : 120 + w, : shape[2]]
    return (img / 255.0).astype(np.float32)


def _pair(kind: str, shape: tuple[int, ...], rng: np.random.Generator):
    ref = rng.random(shape).astype(np.float32) if kind == "random" else _natural(shape)
    img = np.clip(ref + 0.08 * rng.standard_normal(shape), 0, 1).astype(np.float32)
    return img, ref


def _batch(x: np.ndarray):
    import torch

    t = torch.from_numpy(np.ascontiguousarray(x))
    return t[None, None] if x.ndim == 2 else t.permute(2, 0, 1)[None]


@pytest.mark.parametrize("kind", ["random", "natural"])
@pytest.mark.parametrize("shape", SHAPES)
def test_psnr_ssim_match_skimage(kind, shape, rng):
    img, ref = _pair(kind, shape, rng)
    assert psnr(img, ref) == pytest.approx(
        peak_signal_noise_ratio(ref, img, data_range=1.0), abs=1e-4
    )
    sk_img, sk_ref = (img[..., 0], ref[..., 0]) if shape[-1:] == (1,) else (img, ref)
    assert ssim(img, ref) == pytest.approx(_sk_ssim(sk_img, sk_ref), abs=1e-4)


def test_data_range_255_matches_skimage(rng):
    ref = (_natural((64, 64, 3)) * 255).round()
    img = np.clip(ref + rng.normal(0, 10, ref.shape), 0, 255)
    assert psnr(img, ref, data_range=255) == pytest.approx(
        peak_signal_noise_ratio(ref, img, data_range=255), abs=1e-4
    )
    assert ssim(img, ref, data_range=255) == pytest.approx(_sk_ssim(img, ref, 255), abs=1e-4)
    ref8, img8 = ref.astype(np.uint8), img.round().astype(np.uint8)
    assert psnr(img8, ref8, data_range=255) == pytest.approx(
        peak_signal_noise_ratio(ref8, img8, data_range=255), abs=1e-4
    )


def test_integer_images_need_data_range():
    a = np.zeros((16, 16), np.uint8)
    with pytest.raises(ValueError, match="data_range"):
        psnr(a, a + 1)


def test_mse_rmse_and_identical_images(gray_image):
    ref = gray_image
    img = ref + 0.1
    assert mse(img, ref) == pytest.approx(0.01, rel=1e-6)
    assert rmse(img, ref) == pytest.approx(0.1, rel=1e-6)
    assert psnr(img, ref) == pytest.approx(20.0, abs=1e-4)  # 10 log10(1 / 0.01)
    assert psnr(ref, ref) == math.inf
    assert ssim(ref, ref) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("func", [mse, rmse, psnr, ssim])
def test_shape_mismatch_raises(func):
    with pytest.raises(ValueError, match="does not match"):
        func(np.zeros((20, 20)), np.zeros((20, 21)))
    with pytest.raises(ValueError, match="does not match"):
        func(np.zeros((20, 20, 3)), np.zeros((20, 20)))


def test_ssim_too_small_raises():
    with pytest.raises(ValueError, match="11x11"):
        ssim(np.zeros((10, 30)), np.zeros((10, 30)))
    with pytest.raises(ValueError, match="11x11"):  # 16 - 2*3 = 10 after the crop
        ssim(np.zeros((16, 16)), np.zeros((16, 16)), crop_border=3)


def test_y_channel_hand_checked():
    # Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255: pure red vs black differ by 65.481/255.
    ref = np.zeros((16, 16, 3))
    img = ref.copy()
    img[..., 0] = 1.0
    expected = 20 * math.log10(255 / 65.481)
    assert psnr(img, ref, y_channel=True) == pytest.approx(expected, abs=1e-9)
    # On RGB the MSE averages the channels: only one of three differs, by 1.
    assert psnr(img, ref) == pytest.approx(10 * math.log10(3), abs=1e-9)
    # Y only sees luma: a change that keeps Y (G up, R down by 128.553/65.481 as much) is free.
    img2 = np.full((16, 16, 3), 0.5)
    img2[..., 1] += 0.05
    img2[..., 0] -= 0.05 * 128.553 / 65.481
    assert psnr(img2, np.full((16, 16, 3), 0.5), y_channel=True) > 250


def test_y_channel_matches_manual_conversion(rng):
    img, ref = _pair("natural", (48, 40, 3), rng)

    def y(x):
        return (16 + x @ np.array([65.481, 128.553, 24.966])) / 255

    assert psnr(img, ref, y_channel=True) == pytest.approx(
        peak_signal_noise_ratio(y(ref), y(img), data_range=1.0), abs=1e-6
    )
    assert ssim(img, ref, y_channel=True) == pytest.approx(_sk_ssim(y(img), y(ref)), abs=1e-6)
    # data_range scales the conversion too: 0-255 data gives the same numbers.
    assert psnr(img * 255, ref * 255, data_range=255, y_channel=True) == pytest.approx(
        psnr(img, ref, y_channel=True), abs=1e-6
    )
    assert ssim(img * 255, ref * 255, data_range=255, y_channel=True) == pytest.approx(
        ssim(img, ref, y_channel=True), abs=1e-6
    )


def test_y_channel_on_gray_is_a_no_op(gray_image, rng):
    img = np.clip(gray_image + 0.05 * rng.standard_normal(gray_image.shape), 0, 1)
    assert psnr(img, gray_image, y_channel=True) == psnr(img, gray_image)
    assert ssim(img, gray_image, y_channel=True) == ssim(img, gray_image)


def test_y_channel_needs_rgb():
    with pytest.raises(ValueError, match="RGB"):
        psnr(np.zeros((16, 16, 4)), np.ones((16, 16, 4)), y_channel=True)


def test_crop_border(rng):
    ref = rng.random((30, 40))
    img = ref.copy()
    img[:2] = 0.0  # damage only the 2-pixel border
    img[:, -2:] = 1.0
    assert psnr(img, ref) < 30
    assert psnr(img, ref, crop_border=2) == math.inf
    assert psnr(img, ref, crop_border=1) < math.inf
    noisy = np.clip(ref + 0.1 * rng.standard_normal(ref.shape), 0, 1)
    assert ssim(noisy, ref, crop_border=4) == pytest.approx(
        _sk_ssim(noisy[4:-4, 4:-4], ref[4:-4, 4:-4]), abs=1e-6
    )
    assert psnr(noisy, ref, crop_border=3) == pytest.approx(
        peak_signal_noise_ratio(ref[3:-3, 3:-3], noisy[3:-3, 3:-3], data_range=1.0), abs=1e-9
    )
    with pytest.raises(ValueError):
        psnr(noisy, ref, crop_border=-1)
    with pytest.raises(ValueError):
        psnr(noisy, ref, crop_border=15)


@pytest.mark.parametrize("shape", [(37, 29), (64, 48, 3), (45, 45, 1)])
def test_torch_matches_numpy(shape, rng):
    imgs, refs = zip(*(_pair(kind, shape, rng) for kind in ("random", "natural")), strict=True)
    x = np.stack([np.moveaxis(np.atleast_3d(i), -1, 0) for i in imgs])
    y = np.stack([np.moveaxis(np.atleast_3d(r), -1, 0) for r in refs])
    import torch

    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    p, s = psnr_torch(xt, yt), ssim_torch(xt, yt)
    assert p.shape == (2,) and s.shape == (2,)
    for k in range(2):
        assert p[k].item() == pytest.approx(psnr(imgs[k], refs[k]), abs=1e-4)
        assert s[k].item() == pytest.approx(ssim(imgs[k], refs[k]), abs=1e-4)


def test_torch_differentiable_and_float64(rng):
    import torch

    img, ref = _pair("natural", (32, 32, 3), rng)
    x = _batch(img).clone().requires_grad_(True)
    y = _batch(ref)
    loss = -(ssim_torch(x, y).sum() + psnr_torch(x, y).sum())
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    s64 = ssim_torch(_batch(img).double(), y.double())
    assert s64.dtype == torch.float64
    assert s64.item() == pytest.approx(ssim(img, ref), abs=1e-9)
    assert psnr_torch(y, y).item() == math.inf


def test_torch_shape_checks():
    import torch

    with pytest.raises(ValueError, match="does not match"):
        psnr_torch(torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 17))
    with pytest.raises(ValueError, match="does not match"):
        ssim_torch(torch.zeros(2, 3, 16, 16), torch.zeros(1, 3, 16, 16))
    with pytest.raises(ValueError, match="NxCxHxW"):
        ssim_torch(torch.zeros(3, 16, 16), torch.zeros(3, 16, 16))


def test_import_does_not_import_torch():
    code = "import sys, restorekit.metrics; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(11, 24),
    w=st.integers(11, 24),
    c=st.sampled_from([0, 1, 3]),
    seed=st.integers(0, 2**32 - 1),
)
def test_properties_symmetry_and_bounds(h, w, c, seed):
    gen = np.random.default_rng(seed)
    shape = (h, w) if c == 0 else (h, w, c)
    a, b = gen.random(shape), gen.random(shape)
    assert psnr(a, b) == psnr(b, a)
    assert ssim(a, b) == pytest.approx(ssim(b, a), abs=1e-12)
    assert -1.0 <= ssim(a, b) <= 1.0
    assert mse(a, b) >= 0 and rmse(a, b) == pytest.approx(math.sqrt(mse(a, b)))
