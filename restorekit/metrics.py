"""Image quality metrics: MSE, RMSE, PSNR and SSIM, in numpy (reports) and torch (training).

Conventions (the same in every table restorekit prints):

- Images are float arrays in [0, 1] (``data_range=1.0``), HxW or HxWxC; torch batches are
  NxCxHxW. Other ranges work if ``data_range`` says so (e.g. 255 for 0-255 floats).
- ``crop_border=k`` drops ``k`` pixels on every side before measuring (the super-resolution
  convention, usually ``k = scale``).
- ``y_channel=True`` measures RGB images on the luma of ITU-R BT.601 as MATLAB's ``rgb2ycbcr``
  defines it (``Y = 16/255 + (65.481 R + 128.553 G + 24.966 B) / 255`` for RGB in [0, 1]), as SR
  and JPEG-artifact papers report; gray images are measured as they are.
- SSIM is Wang, Bovik, Sheikh & Simoncelli, "Image quality assessment: from error visibility to
  structural similarity", IEEE TIP 2004: 11x11 Gaussian window (sigma 1.5), K1 = 0.01,
  K2 = 0.03, population (co)variances, averaged over the "valid" region only (pixels whose
  window lies fully inside the image). It equals
  ``skimage.metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=...)``; colour images give the mean over channels.

torch is imported lazily, only by the ``*_torch`` functions.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from restorekit.errors import InvalidImageError

if TYPE_CHECKING:
    import torch

__all__ = ["mse", "rmse", "psnr", "ssim", "psnr_torch", "ssim_torch"]

_SSIM_SIGMA = 1.5
_SSIM_RADIUS = 5  # 11x11 window; skimage: int(truncate * sigma + 0.5) with truncate = 3.5
_K1, _K2 = 0.01, 0.03


def _gaussian_window() -> np.ndarray:
    """The normalised 1-D Gaussian of the SSIM window (separable; outer product is 11x11)."""
    x = np.arange(-_SSIM_RADIUS, _SSIM_RADIUS + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / _SSIM_SIGMA) ** 2)
    return w / w.sum()


def _check_pair(img: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both as float64 arrays of the same HxW or HxWxC shape, else ``ValueError``."""
    img, ref = np.asarray(img), np.asarray(ref)
    if img.shape != ref.shape:
        raise InvalidImageError(
            f"image shape {img.shape} does not match reference shape {ref.shape}")
    if img.ndim not in (2, 3):
        raise InvalidImageError(f"expected an HxW or HxWxC image, got shape {img.shape}")
    return img.astype(np.float64, copy=False), ref.astype(np.float64, copy=False)


def _check_range(img: np.ndarray, ref: np.ndarray, data_range: float) -> None:
    if not data_range > 0:
        raise InvalidImageError(f"data_range must be positive, got {data_range}")
    for a in (img, ref):
        if np.issubdtype(a.dtype, np.integer) and data_range == 1.0:
            raise InvalidImageError(
                f"got an integer ({a.dtype}) image with data_range=1.0; convert to float in "
                "[0, 1] (restorekit.io.read_image does) or pass data_range=255 (or 65535)"
            )


def _to_y(img: np.ndarray, data_range: float) -> np.ndarray:
    """BT.601 luma (MATLAB ``rgb2ycbcr`` convention) of an RGB image with values in data units."""
    from restorekit.io import rgb_to_y  # Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255

    return np.asarray(rgb_to_y(img / data_range), dtype=np.float64) * data_range


def _prepare(
    img: np.ndarray, ref: np.ndarray, data_range: float, y_channel: bool, crop_border: int
) -> tuple[np.ndarray, np.ndarray]:
    """Validate, convert to float64, crop the border and (optionally) take the Y channel."""
    _check_range(np.asarray(img), np.asarray(ref), data_range)
    img, ref = _check_pair(img, ref)
    if crop_border < 0:
        raise InvalidImageError(f"crop_border must be >= 0, got {crop_border}")
    if crop_border:
        h, w = img.shape[:2]
        if 2 * crop_border >= min(h, w):
            raise InvalidImageError(f"crop_border={crop_border} leaves nothing of a {h}x{w} image")
        c = crop_border
        img, ref = img[c:-c, c:-c], ref[c:-c, c:-c]
    if img.ndim == 3 and img.shape[2] == 1:
        img, ref = img[..., 0], ref[..., 0]
    if y_channel and img.ndim == 3:
        if img.shape[2] != 3:
            raise InvalidImageError(
                f"y_channel=True needs an RGB (HxWx3) image, got shape {img.shape}")
        img, ref = _to_y(img, data_range), _to_y(ref, data_range)
    return img, ref


def mse(img: np.ndarray, ref: np.ndarray) -> float:
    """Mean squared error over all pixels and channels (float64)."""
    img, ref = _check_pair(img, ref)
    return float(np.mean((img - ref) ** 2))


def rmse(img: np.ndarray, ref: np.ndarray) -> float:
    """Root mean squared error, ``sqrt(mse(img, ref))``."""
    return math.sqrt(mse(img, ref))


def psnr(
    img: np.ndarray,
    ref: np.ndarray,
    *,
    data_range: float = 1.0,
    y_channel: bool = False,
    crop_border: int = 0,
) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)``.

    Equals ``skimage.metrics.peak_signal_noise_ratio(ref, img, data_range=data_range)`` without
    the options. Identical images give ``inf``. Colour images use the MSE over all channels
    (not a mean of per-channel PSNRs). Raises ``ValueError`` if the shapes differ.
    """
    a, b = _prepare(img, ref, data_range, y_channel, crop_border)
    err = float(np.mean((a - b) ** 2))
    if err == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / err)


def _valid_filter(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation of the first two axes of ``x`` with the 1-D window ``w``."""
    n = len(w)
    h, wd = x.shape[0] - n + 1, x.shape[1] - n + 1
    rows = sum(w[k] * x[k : k + h] for k in range(n))
    return sum(w[k] * rows[:, k : k + wd] for k in range(n))


def ssim(
    img: np.ndarray,
    ref: np.ndarray,
    *,
    data_range: float = 1.0,
    y_channel: bool = False,
    crop_border: int = 0,
) -> float:
    """Mean structural similarity (Wang et al. 2004), Gaussian 11x11 window, sigma 1.5.

    Only pixels whose whole window lies inside the image are averaged, which makes the value
    identical to skimage's ``structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)`` (skimage filters with reflection and then crops the same
    5-pixel border). Colour images: mean of the per-channel SSIMs. The image (after cropping)
    must be at least 11x11. Raises ``ValueError`` if the shapes differ.
    """
    a, b = _prepare(img, ref, data_range, y_channel, crop_border)
    if min(a.shape[:2]) < 2 * _SSIM_RADIUS + 1:
        raise InvalidImageError(f"SSIM needs images of at least 11x11 pixels, got {a.shape[:2]}")
    w = _gaussian_window()
    ux, uy = _valid_filter(a, w), _valid_filter(b, w)
    vx = _valid_filter(a * a, w) - ux * ux
    vy = _valid_filter(b * b, w) - uy * uy
    vxy = _valid_filter(a * b, w) - ux * uy
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    # Colour: every channel's map has the same size, so the overall mean is the mean of the
    # per-channel SSIMs (skimage's channel_axis).
    return float(s.mean())


def _check_batch(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape:
        raise InvalidImageError(f"batch shape {tuple(x.shape)} does not match {tuple(y.shape)}")
    if x.ndim != 4:
        raise InvalidImageError(f"expected an NxCxHxW batch, got shape {tuple(x.shape)}")


def psnr_torch(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-image PSNR (dB) of two NxCxHxW batches, shape N; differentiable.

    Same definition as :func:`psnr` (MSE over C, H, W); identical images give ``inf``.
    """
    import torch

    _check_batch(x, y)
    err = torch.mean((x - y) ** 2, dim=(1, 2, 3))
    return 10.0 * torch.log10(data_range**2 / err)


def ssim_torch(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-image SSIM of two NxCxHxW batches, shape N; differentiable.

    Same definition as :func:`ssim` (Gaussian window by a depthwise ``conv2d`` without padding,
    i.e. valid region only; mean over channels). Computed in the input dtype.
    """
    import torch
    import torch.nn.functional as F

    _check_batch(x, y)
    n, c, h, w = x.shape
    if min(h, w) < 2 * _SSIM_RADIUS + 1:
        raise InvalidImageError(f"SSIM needs images of at least 11x11 pixels, got {h}x{w}")
    g = torch.as_tensor(_gaussian_window(), dtype=x.dtype, device=x.device)
    gh = g.view(1, 1, 1, -1).expand(c, 1, 1, g.numel())
    gv = g.view(1, 1, -1, 1).expand(c, 1, g.numel(), 1)

    def filt(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(t, gh, groups=c), gv, groups=c)

    ux, uy = filt(x), filt(y)
    vx = filt(x * x) - ux * ux
    vy = filt(y * y) - uy * uy
    vxy = filt(x * y) - ux * uy
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2, 3))
