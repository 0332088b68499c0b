"""Noise level estimation: a single Gaussian sigma, and the signal-dependent noise level function.

Conventions:

- Images are float arrays in [0, 1], HxW or HxWxC (uint8/uint16 are scaled to [0, 1]; if C is 2
  or 4 the last channel is alpha and is ignored). Floats far outside [0, 1] (|value| > 4, e.g.
  0-255 data) raise ``ValueError``, as do NaNs and images too small for 7x7 patches (< ~32x32).
- Every sigma returned by :func:`estimate_sigma` is on the **0-255 scale** (house convention).
- The noise level function (NLF) is ``sigma^2(y) = b1 * y + b2`` with ``y`` the clean intensity
  in [0, 1] and the variance in [0, 1]-intensity units, the model of the ``nlf`` degradation:
  ``noisy = clip(y + sqrt(b1 * y + b2) * N(0, 1), 0, 1)`` -- Khan et al., "Image Denoise with
  AutoEncoder", sec. III-B, after the SIDD paper (Abdelhamed, Lin & Brown, CVPR 2018) and Foi et
  al., "Practical Poissonian-Gaussian noise modeling and fitting for single-image raw-data"
  (IEEE TIP 2008). :class:`NLF` holds (b1, b2); colour fits are joint over the channels with
  the per-channel fits in ``NLF.channels``.

Methods:

- :func:`estimate_sigma`: the weak-texture-patch PCA estimator of Liu, Tanaka & Okutomi,
  "Single-image noise level estimation for blind denoising" (IEEE TIP 2013). The noise variance
  is the smallest eigenvalue of the covariance of 7x7 patches, restricted (three rounds) to
  patches whose gradient energy is below what noise of the current level alone exceeds with
  probability 1e-6. Two additions: the smallest sample eigenvalue is divided by the
  Marchenko-Pastur lower edge ``(1 - sqrt(d/n))^2`` that n white-noise patches put it at, and
  patches touching 0 or 1 (clipped pixels) are skipped. On Set12 with AWGN sigma 5..50 its mean
  |relative error| is 2.6 %, against 7.2 % for the wavelet MAD of Donoho & Johnstone
  (``skimage.restoration.estimate_sigma``, which overestimates textured images at low sigma:
  +24 % at sigma 5) and 10.8 % for the patch PCA of Chen, Zhu & Heng (ICCV 2015); see
  ``docs/benchmarks/noise_estimation.md``. About 0.1-0.2 s for 512x512 on one core.
- :func:`fit_nlf_pair`: bins the clean intensities, takes a robust (MAD) variance of the
  residual per bin, and fits the line by weighted non-negative least squares.
- :func:`fit_nlf_single`: the same weak-texture selection with a threshold that follows the
  current NLF (the signal-dependent variant of Liu, Tanaka & Okutomi, "Practical
  signal-dependent noise parameter estimation from a single noisy image", IEEE TIP 2014); each
  patch's local variance is its energy in the 15 highest-frequency 7x7 DCT coefficients, a
  median per intensity bin, then the same weighted line fit, five rounds.

Clipping: noise clipped to [0, 1] has a smaller variance near 0 and 1. The single-image
estimators skip patches that touch 0 or 1 exactly; the pair fit's MAD ignores a clipped tail as
long as it is under a quarter of a bin; both NLF fits drop bins within two sigmas of 0 or 1.
What remains is a small downward bias from regions near the limits whose noise is partly
clipped: on Set12 with clipped AWGN, -0.5 % at sigma 35 and -4.5 % at sigma 50. A mostly
saturated image has few usable patches and is biased lower; with almost none, all patches are
used.

Real camera noise is spatially correlated (demosaicking, in-camera denoising, JPEG). The
single-image estimators measure white noise, i.e. its high-frequency part, and on such photos
report far less than the pixel std a noisy/clean pair shows (on CC15 about 0.4-1 against 4-8 on
the 0-255 scale; on JPEG PolyU often 0). Use :func:`fit_nlf_pair` when a reference exists.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from restorekit.errors import InvalidImageError

__all__ = [
    "NLF",
    "estimate_sigma",
    "estimate_sigma_per_channel",
    "fit_nlf_pair",
    "fit_nlf_single",
]

_PATCH = 7  # patch side (Liu et al. use 7)
_CONFIDENCE = 1.0 - 1e-6  # texture threshold: this quantile of a flat noisy patch's gradient energy
_ITERATIONS = 3  # Liu et al.'s default: one estimate on all patches + two refinements
_MIN_PATCHES_PER_DIM = 10  # never trust a covariance from fewer than 10 * d patches
_CHUNK_ROWS = 16  # rows of patch positions per block when forming patch matrices
_BAND_ROWS = 256  # rows of patch positions per band held in float64 (a multiple of 2 * _CHUNK_ROWS)


# --------------------------------------------------------------------------------------------
# input handling


def _as_float(image: np.ndarray) -> np.ndarray:
    """``image`` as float64 in [0, 1] units (no copy if it already is); integers are scaled by
    their dtype's max, e.g. uint8 by 255."""
    image = np.asarray(image)
    if image.dtype == np.bool_:
        return image.astype(np.float64)
    if np.issubdtype(image.dtype, np.integer):
        return image.astype(np.float64) / float(np.iinfo(image.dtype).max)
    if not np.issubdtype(image.dtype, np.floating):
        raise InvalidImageError(f"expected a numeric image, got dtype {image.dtype}")
    _check_floats(image)
    return image.astype(np.float64, copy=False)


def _check_floats(image: np.ndarray, rows: int = 1024) -> None:
    """Refuse NaN/infinite values and 0-255 floats (a unit mistake), a band of rows at a time."""
    peak = 0.0
    for r in range(0, len(image), rows):
        band = image[r:r + rows]
        if not np.isfinite(band).all():
            raise InvalidImageError("image contains NaN or infinite values")
        if band.size:
            peak = max(peak, float(np.abs(band).max()))
    if peak > 4.0:
        raise InvalidImageError(f"image values go far outside [0, 1] (max |value| {peak:.4g}); "
                                "pass float images in [0, 1], e.g. image / 255")


def _channels(image: np.ndarray) -> list[np.ndarray]:
    """The 2-D colour channels of an HxW or HxWxC image (alpha dropped when C is 2 or 4)."""
    image = _as_float(image)
    if image.ndim == 2:
        return [image]
    if image.ndim != 3:
        raise InvalidImageError(f"expected an HxW or HxWxC image, got shape {image.shape}")
    c = image.shape[2]
    if c in (2, 4):
        c -= 1
    return [np.ascontiguousarray(image[..., k]) for k in range(c)]


def _raw_channels(image: np.ndarray) -> tuple[list[np.ndarray], float]:
    """Views of the colour channels in the image's own dtype, and the factor to [0, 1] units:
    :func:`_channels` without converting the whole image to float64 first."""
    a = np.asarray(image)
    if a.dtype == np.bool_:
        scale = 1.0
    elif np.issubdtype(a.dtype, np.integer):
        scale = 1.0 / float(np.iinfo(a.dtype).max)
    elif np.issubdtype(a.dtype, np.floating):
        scale = 1.0
        _check_floats(a)
    else:
        raise InvalidImageError(f"expected a numeric image, got dtype {a.dtype}")
    if a.ndim == 2:
        return [a], scale
    if a.ndim != 3:
        raise InvalidImageError(f"expected an HxW or HxWxC image, got shape {a.shape}")
    c = a.shape[2] - (1 if a.shape[2] in (2, 4) else 0)  # alpha dropped
    return [a[..., k] for k in range(c)], scale


def _check_size(ch: np.ndarray, p: int) -> None:
    h, w = ch.shape
    d = p * p
    if h < p or w < p or (h - p + 1) * (w - p + 1) < _MIN_PATCHES_PER_DIM * d:
        raise InvalidImageError(
            f"image of {h}x{w} pixels is too small for noise estimation with {p}x{p} patches "
            f"(needs at least {_MIN_PATCHES_PER_DIM * d} patches, e.g. 32x32 pixels)"
        )


# --------------------------------------------------------------------------------------------
# patch statistics


def _box_sum(x: np.ndarray, ph: int, pw: int) -> np.ndarray:
    """Sum of ``x`` over every ph x pw window ('valid' positions), via an integral image."""
    s = np.zeros((x.shape[0] + 1, x.shape[1] + 1))
    np.cumsum(np.cumsum(x, axis=0), axis=1, out=s[1:, 1:])
    return s[ph:, pw:] - s[:-ph, pw:] - s[ph:, :-pw] + s[:-ph, :-pw]


#: ``_texture_threshold(_PATCH, _CONFIDENCE)``, precomputed: importing scipy.special for it
#: cost about 0.2 s of every `restorekit restore` (the tests recompute it).
_TAU0 = 81.82076743668523


def _texture_threshold(p: int, confidence: float) -> float:
    """``tau0``: gradient energy of a flat p x p patch of unit-variance noise stays below
    ``tau0`` with probability ``confidence`` (Gamma approximation of Liu et al. 2013, eq. 19)."""
    if (p, confidence) == (_PATCH, _CONFIDENCE):
        return _TAU0
    return _texture_threshold_formula(p, confidence)


@lru_cache(maxsize=8)
def _texture_threshold_formula(p: int, confidence: float) -> float:
    """:func:`_texture_threshold` computed."""
    from scipy.special import gammaincinv

    k = np.array([-0.5, 0.0, 0.5])
    rows = []
    for i in range(p):  # horizontal and vertical central differences inside the patch
        for j in range(p - 2):
            for axis in (0, 1):
                r = np.zeros((p, p))
                if axis:
                    r[i, j : j + 3] = k
                else:
                    r[j : j + 3, i] = k
                rows.append(r.ravel())
    dmat = np.array(rows)
    dd = dmat.T @ dmat
    rank = np.linalg.matrix_rank(dd)
    trace = float(np.trace(dd))
    return float(gammaincinv(rank / 2.0, confidence) * 2.0 * trace / rank)


def _texture_strength(ch: np.ndarray, p: int) -> np.ndarray:
    """Per patch position: sum of squared central-difference gradients inside the patch."""
    gh = (0.5 * (ch[:, 2:] - ch[:, :-2])) ** 2
    gv = (0.5 * (ch[2:, :] - ch[:-2, :])) ** 2
    return _box_sum(gh, p, p - 2) + _box_sum(gv, p - 2, p)


def _unclipped(ch: np.ndarray, p: int) -> np.ndarray:
    """Per patch position: True if no pixel of the patch is exactly 0 or 1 (clipped)."""
    clipped = (ch == 0.0) | (ch == 1.0)
    if not clipped.any():
        return np.ones((ch.shape[0] - p + 1, ch.shape[1] - p + 1), dtype=bool)
    return _box_sum(clipped.astype(np.float64), p, p) < 0.5


def _patch_blocks(ch: np.ndarray, p: int, mask: np.ndarray, step: int = 1):
    """Yield ((d + 1) x n) blocks: the vectorised p x p patches selected by ``mask`` (one flag per
    patch position, row-major order), every ``step``-th position in both directions, plus a last
    row of ones (so one ``B @ B.T`` gives the sums, the sums of products and the count).

    Chunked over rows of positions, so the whole patch matrix is never built: fully selected
    rows are copied as slices, partly selected ones gathered with ``np.take``. Every block is a
    view of one buffer, valid until the next one is yielded.
    """
    d = p * p
    width = ch.shape[1]
    grid = mask[::step, ::step]
    h, w = grid.shape
    span = (w - 1) * step + 1
    offsets = (np.arange(p)[:, None] * width + np.arange(p)[None, :]).ravel()
    flat = ch.ravel()
    buf = np.empty((d + 1, _CHUNK_ROWS * w))
    buf[d] = 1.0
    for r0 in range(0, h, _CHUNK_ROWS):
        r1 = min(h, r0 + _CHUNK_ROWS)
        sel = grid[r0:r1]
        if sel.all():
            block = buf[:, : (r1 - r0) * w]
            top, bottom = r0 * step, (r1 - 1) * step + 1
            for a in range(p):
                for b in range(p):
                    block[a * p + b].reshape(r1 - r0, w)[...] = ch[
                        top + a : bottom + a : step, b : b + span : step
                    ]
        else:
            rows, cols = np.nonzero(sel)
            if rows.size == 0:
                continue
            base = (rows + r0) * (step * width) + cols * step
            block = buf[:, : rows.size]
            for k in range(d):
                np.take(flat, base + offsets[k], out=block[k])
        yield block


def _covariance_of(acc: np.ndarray, d: int) -> tuple[np.ndarray, int]:
    """Covariance and count from the accumulated ``B @ B.T`` of :func:`_patch_blocks`."""
    n = int(round(acc[d, d]))
    if n == 0:
        return acc[:d, :d], 0
    mu = acc[d, :d] / n
    return acc[:d, :d] / n - np.outer(mu, mu), n


def _min_eig_variance(cov: np.ndarray, n: int) -> float:
    """Noise variance from the smallest eigenvalue, divided by the Marchenko-Pastur lower edge
    ``(1 - sqrt(d/n))^2`` that the smallest eigenvalue of n samples of white noise sits at."""
    d = cov.shape[0]
    lam = float(np.linalg.eigvalsh(cov)[0])
    return max(lam, 0.0) / (1.0 - math.sqrt(d / n)) ** 2


def _weak_texture_variance(ch: np.ndarray, p: int = _PATCH, iterations: int = _ITERATIONS,
                           scale: float = 1.0) -> float:
    """Liu et al. 2013 on one channel: the noise variance in [0, 1] units (``ch * scale``).

    Works through bands of ``_BAND_ROWS`` rows of patch positions, each converted to float64
    only while it is used, so memory stays O(band x width) for any image height (an 81 MP
    image took 4 GB done whole); the sums are the same as over the whole image.
    """
    _check_size(ch, p)
    d = p * p
    n_min = _MIN_PATCHES_PER_DIM * d
    tau0 = _texture_threshold(p, _CONFIDENCE)
    rows = ch.shape[0] - p + 1
    bands = [(r0, min(rows, r0 + _BAND_ROWS)) for r0 in range(0, rows, _BAND_ROWS)]

    def pixels(r0: int, r1: int) -> np.ndarray:
        return np.asarray(ch[r0:r1 + p - 1], dtype=np.float64) * scale

    usable = half = half_all = 0  # usable positions; of them, and of all, every other one
    for r0, r1 in bands:
        ok = _unclipped(pixels(r0, r1), p)
        usable += int(ok.sum())
        half += int(ok[::2, ::2].sum())
        half_all += ok[::2, ::2].size
    use_all = usable < n_min  # nearly all saturated: use everything, accept the bias
    if use_all:
        half = half_all

    def covariance(threshold: float | None, step: int) -> tuple[np.ndarray, int]:
        acc = np.zeros((d + 1, d + 1))
        for r0, r1 in bands:
            sub = pixels(r0, r1)
            sel = (np.ones((r1 - r0, ch.shape[1] - p + 1), dtype=bool) if use_all
                   else _unclipped(sub, p))
            if threshold is not None:
                sel &= _texture_strength(sub, p) < threshold
            for block in _patch_blocks(sub, p, sel, step):
                acc += block @ block.T
        return _covariance_of(acc, d)

    # The first estimate only sets the texture threshold: every other patch position is enough.
    cov, n = covariance(None, 2 if half >= n_min else 1)
    var = _min_eig_variance(cov, n)
    for _ in range(1, iterations):
        cov, n = covariance(var * tau0, 1)
        if n < n_min:
            break
        var = _min_eig_variance(cov, n)
    return var


# --------------------------------------------------------------------------------------------
# single sigma


def estimate_sigma_per_channel(image: np.ndarray) -> list[float]:
    """Gaussian noise std of each colour channel, on the 0-255 scale.

    Weak-texture-patch PCA (Liu, Tanaka & Okutomi, IEEE TIP 2013) per channel; see the module
    docstring for the details and the clipping behaviour. Channels too small for that (under
    ~32x32 pixels, e.g. MNIST digits) fall back to Donoho's MAD rule on the finest diagonal Haar
    band, which is rougher but never refuses an image of at least 2x2 pixels.
    """
    channels, scale = _raw_channels(image)
    return [255.0 * math.sqrt(_small_image_variance(np.asarray(ch, np.float64) * scale)
                              if _too_small(ch, _PATCH) else
                              _weak_texture_variance(ch, scale=scale)) for ch in channels]


def _too_small(ch: np.ndarray, p: int) -> bool:
    try:
        _check_size(ch, p)
    except InvalidImageError:
        return True
    return False


def _small_image_variance(ch: np.ndarray) -> float:
    """Donoho & Johnstone's MAD estimate, ``median(|HH|) / 0.6745``, squared.

    ``HH = (a - b - c + d) / 2`` over 2x2 cells is orthonormal, so it keeps the noise's std while
    cancelling smooth content.
    """
    h, w = (ch.shape[0] // 2) * 2, (ch.shape[1] // 2) * 2
    if h == 0 or w == 0:
        raise InvalidImageError(f"image of {ch.shape[0]}x{ch.shape[1]} pixels is too small "
                                "for noise estimation (needs at least 2x2)")
    c = ch[:h, :w].astype(np.float64)
    hh = (c[0::2, 0::2] - c[0::2, 1::2] - c[1::2, 0::2] + c[1::2, 1::2]) / 2
    return float(np.median(np.abs(hh)) / 0.6745) ** 2


def estimate_sigma(image: np.ndarray) -> float:
    """Gaussian noise std of ``image`` on the 0-255 scale (mean over channels for colour).

    For white Gaussian noise of std ``sigma/255`` on a float [0, 1] image, returns about
    ``sigma`` (Set12, sigma 5..50: 2.6 % mean |relative error|; 0.1-0.2 s for 512x512 gray on
    one core). Weak-texture-patch PCA of Liu, Tanaka & Okutomi (IEEE TIP 2013). Clipped noise
    reads slightly low, and spatially correlated (camera, JPEG) noise much lower than its pixel
    std: see the module docstring.
    """
    return float(np.mean(estimate_sigma_per_channel(image)))


# --------------------------------------------------------------------------------------------
# noise level function


@dataclass(frozen=True)
class NLF:
    """Signal-dependent noise level function ``sigma^2(y) = b1 * y + b2``.

    ``y`` is the clean intensity in [0, 1] and the variance is in [0, 1]-intensity units, so
    :meth:`sigma` is a std on the [0, 1] scale (:meth:`sigma_255` gives it on the 0-255 scale).
    For colour images ``b1, b2`` are the joint fit over all channels (one model shared by the
    channels, as the ``nlf`` degradation applies it) and ``channels`` holds the per-channel fits
    in channel order; it is empty for gray images.
    """

    b1: float
    b2: float
    channels: tuple[NLF, ...] = field(default=(), repr=False)

    def variance(self, y: float | np.ndarray) -> float | np.ndarray:
        """Noise variance at clean intensity ``y`` ([0, 1] units)."""
        v = self.b1 * np.asarray(y, dtype=np.float64) + self.b2
        return float(v) if v.ndim == 0 else v

    def sigma(self, y: float | np.ndarray) -> float | np.ndarray:
        """Noise std at clean intensity ``y``, on the [0, 1] scale."""
        s = np.sqrt(np.asarray(self.variance(y)))
        return float(s) if s.ndim == 0 else s

    def sigma_255(self, y: float | np.ndarray) -> float | np.ndarray:
        """Noise std at clean intensity ``y``, on the 0-255 scale."""
        s = 255.0 * np.asarray(self.sigma(y))
        return float(s) if s.ndim == 0 else s

    def spec(self) -> str:
        """The degradation spec string that adds this noise, e.g. ``nlf:b1=0.01,b2=0.0004``."""
        return f"nlf:b1={self.b1:.6g},b2={self.b2:.6g}"

    def __str__(self) -> str:
        levels = "/".join(f"{self.sigma_255(y):.2f}" for y in (0.1, 0.5, 0.9))
        text = f"NLF(b1={self.b1:.4g}, b2={self.b2:.4g}; sigma_255 at y=0.1/0.5/0.9: {levels})"
        if self.channels:
            per = ", ".join(f"(b1={c.b1:.4g}, b2={c.b2:.4g})" for c in self.channels)
            text += f" per channel: {per}"
        return text


_MAD_TO_STD = 1.4826  # 1 / Phi^-1(3/4): MAD -> std for Gaussian data
_CLIP_MARGIN = 2.0  # ignore bins whose mean intensity is within this many sigmas of 0 or 1
_MIN_BIN_COUNT = 100  # a bin needs this many samples to count
_TINY_VARIANCE = 1e-12  # (b1, b2) below this are 0: a std of 1e-6, i.e. 0.00026 gray levels
_NLF_ITERATIONS = 5  # texture threshold <-> NLF refinements in fit_nlf_single
_DCT_MIN_FREQ = 8  # fit_nlf_single: DCT coefficients with u + v >= 8 (15 of the 7x7 = 49)


def _fit_line(y: np.ndarray, v: np.ndarray, n: np.ndarray, iterations: int = 3) -> NLF:
    """Weighted non-negative least squares of per-bin variances ``v`` on intensities ``y``.

    The variance of a variance estimate from n Gaussian samples is proportional to v^2 / n, so
    the weights are n / v^2, re-evaluated with the fitted line (IRLS). Bins closer than
    ``_CLIP_MARGIN`` sigmas to 0 or 1 (where clipping shrinks the variance) are ignored, and so
    are bins with fewer than ``_MIN_BIN_COUNT`` samples. Returns NLF(0, 0) if no bin is usable.
    """
    from scipy.optimize import nnls

    ok = (n >= _MIN_BIN_COUNT) & np.isfinite(v) & np.isfinite(y)
    if not ok.any():
        return NLF(0.0, 0.0)
    y, v, n = y[ok], np.maximum(v[ok], 0.0), n[ok]
    model = v.copy()
    b1 = b2 = 0.0
    for _ in range(iterations):
        s = np.sqrt(np.maximum(model, 0.0))
        keep = (y - _CLIP_MARGIN * s > 0.0) & (y + _CLIP_MARGIN * s < 1.0)
        if not keep.any():
            keep = np.ones_like(keep)
        floor = max(float(np.median(model[keep])) * 1e-2, 1e-12)
        w = np.sqrt(n[keep]) / np.maximum(model[keep], floor)
        a = np.stack([y[keep], np.ones(int(keep.sum()))], axis=1) * w[:, None]
        (b1, b2), _ = nnls(a, v[keep] * w)
        model = b1 * y + b2
    # Rounding residue (e.g. 1e-35 on a noise-free image) is reported as exactly 0.
    return NLF(float(b1) if b1 > _TINY_VARIANCE else 0.0, float(b2) if b2 > _TINY_VARIANCE else 0.0)


def _binned(
    y: np.ndarray, samples: np.ndarray, bins: int, stat: Callable[[np.ndarray], float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut intensities ``y`` into ``bins`` equal bins of [0, 1]; per bin (with enough samples):
    mean intensity, ``stat(samples in the bin)`` (a variance) and the count."""
    idx = np.clip((y * bins).astype(np.intp), 0, bins - 1)
    order = np.argsort(idx, kind="stable")
    idx, y, samples = idx[order], y[order], samples[order]
    starts = np.searchsorted(idx, np.arange(bins + 1))
    ym, var, cnt = np.full(bins, np.nan), np.full(bins, np.nan), np.zeros(bins)
    for k in range(bins):
        a, b = starts[k], starts[k + 1]
        if b - a >= _MIN_BIN_COUNT:
            ym[k], var[k], cnt[k] = y[a:b].mean(), stat(samples[a:b]), b - a
    return ym, var, cnt


def _check_bins(bins: int) -> None:
    if not isinstance(bins, int | np.integer) or bins < 2:
        raise InvalidImageError(f"bins must be an integer >= 2, got {bins!r}")


def _mad_variance(r: np.ndarray) -> float:
    """Robust variance of residuals: (1.4826 * median |r - median r|)^2."""
    return float((_MAD_TO_STD * np.median(np.abs(r - np.median(r)))) ** 2)


def fit_nlf_pair(noisy: np.ndarray, clean: np.ndarray, *, bins: int = 32) -> NLF:
    """Fit ``sigma^2(y) = b1 * y + b2`` from a noisy image and its clean reference.

    The clean intensities are cut into ``bins`` equal bins of [0, 1]; in each bin the residual
    ``noisy - clean`` gets a robust variance, (1.4826 MAD)^2, which ignores outliers (moving
    objects, misregistration) and is unaffected by clipping while less than a quarter of the bin
    is clipped; bins within two sigmas of 0 or 1 are dropped anyway. The line is a weighted
    non-negative least-squares fit (weights n / sigma^4, the inverse variance of a variance
    estimate), so ``b1, b2 >= 0``. Colour: joint fit over all channels, per-channel fits in
    ``.channels``. Model and use as in Foi et al. (IEEE TIP 2008).
    """
    _check_bins(bins)
    noisy, clean = np.asarray(noisy), np.asarray(clean)
    if noisy.shape != clean.shape:
        raise InvalidImageError(
            f"noisy shape {noisy.shape} does not match clean shape {clean.shape}")
    channels = zip(_channels(noisy), _channels(clean), strict=True)
    pairs = [(c.ravel(), (n - c).ravel()) for n, c in channels]
    fits = [_fit_line(*_binned(y, r, bins, _mad_variance)) for y, r in pairs]
    if len(fits) == 1:
        return fits[0]
    y_all = np.concatenate([y for y, _ in pairs])
    r_all = np.concatenate([r for _, r in pairs])
    joint = _fit_line(*_binned(y_all, r_all, bins, _mad_variance))
    return NLF(joint.b1, joint.b2, channels=tuple(fits))


@lru_cache(maxsize=4)
def _highpass_dct(p: int, min_freq: int) -> np.ndarray:
    """Orthonormal 2-D DCT-II basis vectors of a p x p patch with u + v >= min_freq (d x K)."""
    k = np.arange(p)
    c = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * p)) * math.sqrt(2.0 / p)
    c[0] /= math.sqrt(2.0)
    basis = np.einsum("ui,vj->uvij", c, c).reshape(p * p, p * p)
    freq = (k[:, None] + k[None, :]).ravel()
    return basis[freq >= min_freq].T.copy()


def _chi2_median_ratio(k: int) -> float:
    """median(chi^2_k) / k: the median of a k-coefficient noise energy per unit variance."""
    from scipy.special import gammaincinv

    return float(2.0 * gammaincinv(k / 2.0, 0.5) / k)


@dataclass
class _PatchField:
    """Per patch position of one channel: mean, gradient energy, unclipped flag, and the noise
    energy per coefficient in the high-frequency DCT subspace (all flattened)."""

    mean: np.ndarray
    strength: np.ndarray
    usable: np.ndarray
    energy: np.ndarray


def _patch_field(ch: np.ndarray, p: int = _PATCH) -> _PatchField:
    _check_size(ch, p)
    basis = _highpass_dct(p, _DCT_MIN_FREQ)
    all_patches = np.ones((ch.shape[0] - p + 1, ch.shape[1] - p + 1), dtype=bool)
    parts = []
    for block in _patch_blocks(ch, p, all_patches):
        coef = basis.T @ block[:-1]
        parts.append(np.einsum("kn,kn->n", coef, coef))
    energy = np.concatenate(parts) / basis.shape[1]
    return _PatchField(
        mean=(_box_sum(ch, p, p) / (p * p)).ravel(),
        strength=_texture_strength(ch, p).ravel(),
        usable=_unclipped(ch, p).ravel(),
        energy=energy,
    )


def _fit_fields(fields: list[_PatchField], bins: int, p: int = _PATCH) -> NLF:
    """One NLF shared by the given channels: alternate weak-texture selection and line fit."""
    tau0 = _texture_threshold(p, _CONFIDENCE)
    k = _highpass_dct(p, _DCT_MIN_FREQ).shape[1]
    ratio = _chi2_median_ratio(k)

    def stat(e: np.ndarray) -> float:
        return float(np.median(e)) / ratio

    mean = np.concatenate([f.mean for f in fields])
    strength = np.concatenate([f.strength for f in fields])
    usable = np.concatenate([f.usable for f in fields])
    energy = np.concatenate([f.energy for f in fields])
    if not usable.any():
        usable = np.ones_like(usable)
    # Start from a constant level: the median energy over all patches (an overestimate, since
    # textured patches count too), so the first selection is generous and then tightens.
    nlf = NLF(0.0, stat(energy[usable]))
    for _ in range(_NLF_ITERATIONS):
        model = np.maximum(nlf.b1 * mean + nlf.b2, 1e-12)
        sel = usable & (strength < tau0 * model)
        if sel.sum() < _MIN_BIN_COUNT:
            break
        nlf = _fit_line(*_binned(mean[sel], energy[sel], bins, stat))
    return nlf


def fit_nlf_single(noisy: np.ndarray, *, bins: int = 16) -> NLF:
    """Fit ``sigma^2(y) = b1 * y + b2`` from a single noisy image.

    Weak-texture patches as in Liu, Tanaka & Okutomi (IEEE TIP 2014, "Practical signal-dependent
    noise parameter estimation from a single noisy image"): a 7x7 patch counts when its gradient
    energy is below what noise of the current NLF alone would exceed with probability 1e-6.
    Each patch's local variance is its energy in the 15 highest-frequency DCT coefficients
    (u + v >= 8), where natural images have almost no signal; per intensity bin (patch means,
    ``bins`` equal bins) the median of those, divided by the median of chi^2_15 / 15, is the
    variance; then the weighted non-negative line fit of :func:`fit_nlf_pair`, and the selection
    is redone with the new NLF (5 rounds). On Set12 with synthetic nlf noise the fitted sigma(y),
    y in [0.1, 0.9], is within 2-4 % on average for noise of 10-25 gray levels and 16 % at about
    4 gray levels, biased high by residual texture and the images' own noise (b2 absorbs it, so
    b2 alone is loosely determined). Real camera noise, which is spatially correlated, comes out
    far lower than a noisy/clean pair shows. Colour: joint fit, per-channel fits in
    ``.channels``. Needs at least ~32x32 pixels.
    """
    _check_bins(bins)
    fields = [_patch_field(ch) for ch in _channels(noisy)]
    if len(fields) == 1:
        return _fit_fields(fields, bins)
    per_channel = tuple(_fit_fields([f], bins) for f in fields)
    joint = _fit_fields(fields, bins)
    return NLF(joint.b1, joint.b2, channels=per_channel)
