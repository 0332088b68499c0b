"""Classical (non-learned) denoisers behind the :class:`Restorer` interface.

Every method here takes a float image in [0, 1] (HxW or HxWxC; values outside [0, 1] from
unclipped noise are accepted) and a Gaussian noise level ``sigma`` on the 0-255 scale, estimated
with :func:`restorekit.noise_estimation.estimate_sigma` when not given. Each method's strength
parameter is a rule in ``sigma`` tuned once for additive white Gaussian noise (AWGN): on Set12
images 02, 05 and 07 (256x256) at sigma 15, 25 and 50, choosing the value with the best mean
PSNR; the rule is in each class's docstring and ``benchmarks/classical.py`` measures the result
on all of Set12. An option given explicitly to the constructor overrides its rule. Colour
images are filtered per channel unless the docstring says otherwise.

This module must not import torch; scipy and scikit-image are imported when a method runs,
and BM3D (the optional ``bm3d`` extra) only inside :meth:`BM3D.restore`.
"""

from __future__ import annotations

import math

import numpy as np

from restorekit.errors import MissingDependencyError, RestorekitError
from restorekit.restorers.base import Restorer, as_input_image, register_restorer
from restorekit.restorers.options import require_at_least

__all__ = [
    "BM3D",
    "Bilateral",
    "GaussianFilter",
    "Identity",
    "LowRank",
    "Median",
    "NonLocalMeans",
    "TotalVariation",
    "Wavelet",
    "low_rank_denoise",
]


def _finish(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A new float32 array shaped like ``like``, clipped to [0, 1] (never the caller's array)."""
    out = np.asarray(out, dtype=np.float32).reshape(like.shape)
    if np.shares_memory(out, like) or not out.flags.writeable:
        out = out.copy()
    return np.clip(out, 0.0, 1.0, out=out)


class _Classical(Restorer):
    """Shared plumbing: input checks, the sigma estimate, and a sigma-free identity shortcut."""

    uses_sigma = True
    #: The sigma (0-255) the last call used, given or estimated; None for sigma-free methods.
    last_sigma: float | None = None

    def restore(self, image: np.ndarray, sigma: float | None = None) -> np.ndarray:
        img = as_input_image(image, min_side=2)
        s = self._sigma(img, sigma) if self.uses_sigma else 0.0
        self.last_sigma = s if self.uses_sigma else None
        if self.uses_sigma and s == 0.0:
            return _finish(img, img)  # no noise: nothing to remove
        work = img[..., 0] if img.ndim == 3 and img.shape[2] == 1 else img
        return _finish(self._denoise(work, s), img)

    @staticmethod
    def _sigma(img: np.ndarray, sigma: float | None) -> float:
        if sigma is None:
            from restorekit.noise_estimation import estimate_sigma

            sigma = estimate_sigma(np.clip(img, 0.0, 1.0))
        sigma = float(sigma)
        if not math.isfinite(sigma) or sigma < 0:
            raise RestorekitError(f"sigma must be a finite number >= 0 (0-255 scale), got {sigma}")
        return sigma

    def _denoise(self, img: np.ndarray, sigma: float) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


def _channel_axis(img: np.ndarray) -> int | None:
    return -1 if img.ndim == 3 else None


@register_restorer("identity", paper="", summary="Returns the input unchanged (a table baseline).")
class Identity(_Classical):
    """Returns a copy of the input (clipped to [0, 1]): the 'noisy' row of a results table."""

    uses_sigma = False

    def _denoise(self, img: np.ndarray, sigma: float) -> np.ndarray:
        return img


@register_restorer("gaussian-filter", paper="Gaussian low-pass filter (classical baseline)")
class GaussianFilter(_Classical):
    """Gaussian low-pass filter, ``scipy.ndimage.gaussian_filter``, spatial axes only.

    Tuned rule: kernel std ``width = 0.37 + 0.0186 * sigma`` pixels (tuning optimum 0.65 /
    0.85 / 1.3 at sigma 15 / 25 / 50).
    """

    def __init__(self, *, width: float | None = None, mode: str = "reflect") -> None:
        self.width = width
        self.mode = mode

    @staticmethod
    def rule(sigma: float) -> float:
        return 0.37 + 0.0186 * sigma

    def _denoise(self, img: np.ndarray, sigma: float) -> np.ndarray:
        from scipy.ndimage import gaussian_filter

        w = self.width if self.width is not None else self.rule(sigma)
        ws = (w, w, 0.0) if img.ndim == 3 else (w, w)
        return gaussian_filter(img, ws, mode=self.mode)


@register_restorer("median", paper="Tukey median filter (classical baseline)")
class Median(_Classical):
    """Square median filter, ``scipy.ndimage.median_filter``, per channel.

    Tuned rule: ``size = 3`` for sigma < 28, ``5`` for sigma < 70, else ``7`` (3 wins at 25,
    5 at 30 and 50, 7 from about 75).
    """

    def __init__(self, *, size: int | None = None, mode: str = "reflect") -> None:
        if size is not None and size < 1:
            raise RestorekitError(f"median size must be >= 1, got {size}")
        self.size = size
        self.mode = mode

    @staticmethod
    def rule(sigma: float) -> int:
        return 3 if sigma < 28 else 5 if sigma < 70 else 7

    def _denoise(self, img: np.ndarray, sigma: float) -> np.ndarray:
        from scipy.ndimage import median_filter

        k = self.size if self.size is not None else self.rule(sigma)
        return median_filter(img, size=(k, k, 1) if img.ndim == 3 else (k, k), mode=self.mode)


def _bilateral(img: np.ndarray, sigma_color: float, sigma_spatial: float, radius: int,
               guide: np.ndarray | None = None) -> np.ndarray:
    """Bilateral filter of an HxWxC image; the range kernel uses the colour distance on ``guide``.

    A plain numpy loop over the ``(2r+1)^2`` window offsets (each a whole-image operation).
    ``skimage.restoration.denoise_bilateral`` is not used: in scikit-image 0.26 its impulse
    response is displaced by a few pixels, which costs several dB.
    """
    g = img if guide is None else guide
    H, W, _ = img.shape
    r = radius
    mode = "reflect" if min(H, W) > r else "edge"
    pad = np.pad(img, ((r, r), (r, r), (0, 0)), mode=mode)
    gpad = pad if guide is None else np.pad(g, ((r, r), (r, r), (0, 0)), mode=mode)
    num = np.zeros_like(img)
    den = np.zeros((H, W, 1), np.float32)
    inv_c = np.float32(-0.5 / sigma_color**2)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            ws = math.exp(-(dy * dy + dx * dx) / (2.0 * sigma_spatial**2))
            nb = pad[r + dy:r + dy + H, r + dx:r + dx + W]
            diff = gpad[r + dy:r + dy + H, r + dx:r + dx + W] - g
            w = np.exp(inv_c * np.einsum("hwc,hwc->hw", diff, diff))[..., None]
            w *= np.float32(ws)
            num += w * nb
            den += w
    return num / den


@register_restorer("bilateral", paper="Tomasi & Manduchi, Bilateral filtering for gray and color "
                   "images, ICCV 1998")
class Bilateral(_Classical):
    """Bilateral filter (Gaussian spatial and range kernels), numpy implementation.

    Tuned rule (gray): ``sigma_color = (2 + sigma / 25) * sigma / 255`` (optimum 2.5-3 / 3 / 4
    times sigma/255 at sigma 15 / 25 / 50), ``sigma_spatial = 1.5``, window radius
    ``ceil(2 * sigma_spatial)``. For colour the range kernel sees the Euclidean distance over
    the C channels, so ``sigma_color`` is scaled by ``C ** 0.25`` (1.3 for RGB; tuned on three
    256x256 Set5 crops, where it beat both 1 and ``sqrt(3)``).
    """

    def __init__(self, *, sigma_color: float | None = None, sigma_spatial: float | None = None,
                 radius: int | None = None) -> None:
        self.sigma_color = sigma_color
        self.sigma_spatial = sigma_spatial
        self.radius = radius

    @staticmethod
    def rule(sigma: float) -> tuple[float, float]:
        return (2.0 + sigma / 25.0) * sigma / 255.0, 1.5

    def _denoise(self, img: np.ndarray, sigma: float) -> np.ndarray:
        x = img[..., None] if img.ndim == 2 else img
        sc, ss = self.rule(sigma)
        if self.sigma_color is not None:
            sc = self.sigma_color
        else:
            sc *= x.shape[2] ** 0.25
        ss = self.sigma_spatial if self.sigma_spatial is not None else ss
        r = self.radius if self.radius is not None else max(1, math.ceil(2.0 * ss))
        out = _bilateral(x, sc, ss, r)
        return out[..., 0] if img.ndim == 2 else out


@register_restorer("tv", paper="Rudin, Osher & Fatemi, Nonlinear total variation based noise "
                   "removal, Physica D 1992; Chambolle, An algorithm for total variation "
                   "minimization, JMIV 2004")
class TotalVariation(_Classical):
    """Total-variation (ROF) denoising by Chambolle's projection algorithm.

    ``skimage.restoration.denoise_tv_chambolle``, per channel. Tuned rule:
    ``weight = (0.6 + 0.006 * sigma) * sigma / 255`` (skimage's ``weight`` for a [0, 1] image;
    tuning optimum 0.041 / 0.078 / 0.176 at sigma 15 / 25 / 50).
    """

    def __init__(self, *, weight: float | None = None, eps: float = 2e-4,
                 max_num_iter: int = 200) -> None:
        self.weight = weight
        self.eps = eps
        self.max_num_iter = max_num_iter

    @staticmethod
    def rule(sigma: float) -> float:
        return (0.6 + 0.006 * sigma) * sigma / 255.0

    def _denoise(self, img: np.ndarray, sigma: float) -> np.ndarray:
        from skimage.restoration import denoise_tv_chambolle

        w = self.weight if self.weight is not None else self.rule(sigma)
        return denoise_tv_chambolle(img, weight=w, eps=self.eps, max_num_iter=self.max_num_iter,
                                    channel_axis=_channel_axis(img))


@register_restorer("wavelet", paper="Chang, Yu & Vetterli, Adaptive wavelet thresholding for "
                   "image denoising and compression (BayesShrink), IEEE TIP 2000")
class Wavelet(_Classical):
    """BayesShrink soft thresholding, ``skimage.restoration.denoise_wavelet``.

    Thresholds are BayesShrink's per-subband rule given the noise ``sigma``; RGB images are
    thresholded in YCbCr (skimage's ``convert2ycbcr``). ``cycle_spin`` > 0 averages the result
    over all shifts up to that many pixels (Coifman & Donoho's translation-invariant
    denoising), which removes the blocky wavelet artefacts for ``(cycle_spin + 1)**2`` times
    the work. Tuned: ``cycle_spin=3`` (16 shifts, +0.3-0.9 dB over none; 4 is no better);
    wavelet ``"db2"`` for sigma < 20 and for colour, else ``"db1"`` (Haar); skimage's default
    number of levels.
    """

    def __init__(self, *, wavelet: str | None = None, mode: str = "soft",
                 wavelet_levels: int | None = None, cycle_spin: int = 3) -> None:
        self.wavelet = wavelet
        self.mode = mode
        self.wavelet_levels = wavelet_levels
        self.cycle_spin = cycle_spin

    @staticmethod
    def rule(sigma: float, channels: int = 1) -> str:
        return "db2" if sigma < 20 or channels > 1 else "db1"

    def _denoise(self, img: np.ndarray, sigma: float) -> np.ndarray:
        from skimage.restoration import cycle_spin, denoise_wavelet

        ax = _channel_axis(img)
        x_ch = img.shape[2] if img.ndim == 3 else 1
        kw = {"sigma": sigma / 255.0, "wavelet": self.wavelet or self.rule(sigma, x_ch),
              "mode": self.mode, "wavelet_levels": self.wavelet_levels,
              "method": "BayesShrink", "rescale_sigma": True,
              "convert2ycbcr": ax is not None and img.shape[-1] == 3, "channel_axis": ax}
        x = img.astype(np.float64)
        if self.cycle_spin <= 0:
            return denoise_wavelet(x, **kw)
        return cycle_spin(x, denoise_wavelet, max_shifts=self.cycle_spin, func_kw=kw,
                          channel_axis=ax, workers=1)


@register_restorer("nlm", paper="Buades, Coll & Morel, A non-local algorithm for image "
                   "denoising, CVPR 2005; Darbon et al. fast NLM, ISBI 2008")
class NonLocalMeans(_Classical):
    """Non-local means, ``skimage.restoration.denoise_nl_means`` in fast mode.

    The patch distance has the expected noise term ``2 sigma^2`` removed (skimage's ``sigma``
    argument), so ``h`` scales the remaining, signal part. Tuned rule:
    ``h = (0.9 - 0.006 * sigma) * sigma / 255`` (optimum 0.8 / 0.75 / 0.6 times sigma/255 at
    sigma 15 / 25 / 50), 5x5 patches for sigma <= 30 and 7x7 above (larger patches match
    better in heavy noise), search radius 6 (11 was no better and 3x slower). Colour patches
    compare all channels jointly (skimage averages the patch distance over the channels), and
    ``h`` is 0.8 times the gray rule (tuned on three 256x256 Set5 crops).
    """

    def __init__(self, *, h: float | None = None, patch_size: int | None = None,
                 patch_distance: int = 6, fast_mode: bool = True) -> None:
        require_at_least("nlm", patch_size=(patch_size, 1), patch_distance=(patch_distance, 1))
        self.h = h
        self.patch_size = patch_size
        self.patch_distance = patch_distance
        self.fast_mode = fast_mode

    @staticmethod
    def rule(sigma: float) -> tuple[float, int]:
        return (0.9 - 0.006 * sigma) * sigma / 255.0, (5 if sigma <= 30 else 7)

    def _denoise(self, img: np.ndarray, sigma: float) -> np.ndarray:
        from skimage.restoration import denoise_nl_means

        h, ps = self.rule(sigma)
        if img.ndim == 3 and img.shape[2] > 1:
            h *= 0.8
        h = self.h if self.h is not None else h
        ps = self.patch_size if self.patch_size is not None else ps
        return denoise_nl_means(img, h=h, sigma=sigma / 255.0, patch_size=ps,
                                patch_distance=self.patch_distance, fast_mode=self.fast_mode,
                                channel_axis=_channel_axis(img))


# ----------------------------------------------------------------------------------------------
# low-rank approximation of groups of similar patches


def _positions(n: int, p: int, step: int) -> np.ndarray:
    """Reference patch starts along an axis of length ``n``: every ``step``, plus the last one."""
    last = n - p
    g = np.arange(0, last + 1, step)
    return g if g[-1] == last else np.append(g, last)


def _block_match(guide: np.ndarray, rows: np.ndarray, cols: np.ndarray, p: int, radius: int,
                 k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-left corners of the ``k`` patches most similar to each reference patch.

    References are all pairs ``rows x cols``; candidates lie within ``radius`` pixels. The sum
    of squared differences for one displacement is a box sum of the squared difference image,
    so each displacement costs a few passes over the image (integral images), not ``p*p``.
    Returns two ``(n_refs, k)`` index arrays; the reference itself is always in its group.
    """
    H, W = guide.shape
    Hp, Wp = H - p + 1, W - p + 1
    ri = np.repeat(rows, cols.size)
    rj = np.tile(cols, rows.size)
    d = np.arange(-radius, radius + 1)
    dy, dx = np.repeat(d, d.size), np.tile(d, d.size)
    dist = np.full((ri.size, dy.size), np.inf, dtype=np.float32)
    for o in range(dy.size):
        oy, ox = int(dy[o]), int(dx[o])
        i0, i1 = max(0, -oy), min(Hp, Hp - oy)
        j0, j1 = max(0, -ox), min(Wp, Wp - ox)
        if i1 <= i0 or j1 <= j0:
            continue
        a = guide[i0:i1 + p - 1, j0:j1 + p - 1]
        b = guide[i0 + oy:i1 + oy + p - 1, j0 + ox:j1 + ox + p - 1]
        cs = np.zeros((a.shape[0] + 1, a.shape[1] + 1), np.float32)
        np.cumsum(np.cumsum(np.square(a - b), 0), 1, out=cs[1:, 1:])
        ok = (ri >= i0) & (ri < i1) & (rj >= j0) & (rj < j1)
        ii, jj = ri[ok] - i0, rj[ok] - j0
        dist[ok, o] = cs[ii + p, jj + p] - cs[ii, jj + p] - cs[ii + p, jj] + cs[ii, jj]
    dist[:, dy.size // 2] = -1.0  # zero displacement: the reference comes first
    k = min(k, dy.size)
    best = np.argpartition(dist, k - 1, axis=1)[:, :k]
    return ri[:, None] + dy[best], rj[:, None] + dx[best]


def low_rank_denoise(image: np.ndarray, sigma: float, *, patch: int = 8, step: int = 4,
                     radius: int = 10, group: int = 40, tau: float = 1.0, mode: str = "hard",
                     guide: np.ndarray | None = None, rows_per_chunk: int = 16) -> np.ndarray:
    """Denoise an HxWxC image by low-rank approximation of groups of similar patches.

    For each reference patch (every ``step`` pixels) the ``group`` most similar ``patch x
    patch`` patches within ``radius`` pixels (matched on ``guide``, default the channel mean)
    form a ``group x (C*patch^2)`` matrix; colour channels share one row, so the rank also
    captures the correlation between channels. After removing the group's mean patch, its
    singular values are hard (or soft) thresholded at ``tau * sigma * (sqrt(m) + sqrt(n))``,
    the largest singular value a pure-noise ``m x n`` Gaussian matrix reaches (Marchenko-
    Pastur edge), and the estimates of overlapping patches are averaged with weight
    ``1 / (1 + rank)`` (sparser estimates count more, as BM3D weights its groups). ``sigma`` is
    on the [0, 1] scale here. Memory is bounded by matching ``rows_per_chunk`` reference rows
    at a time and filtering their groups in batches of about 64 MB.
    """
    H, W, C = image.shape
    p = min(patch, H, W)
    y = np.ascontiguousarray(image, dtype=np.float32)
    g = np.ascontiguousarray(y.mean(-1) if guide is None else guide, dtype=np.float32)
    views = np.lib.stride_tricks.sliding_window_view(y, (p, p), axis=(0, 1))  # Hp,Wp,C,p,p
    m = C * p * p
    uu, vv = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    pix = (uu * W + vv).ravel()
    num = np.zeros((C, H * W))
    den = np.zeros(H * W)
    rows, cols = _positions(H, p, step), _positions(W, p, step)
    # every reference must find `k` candidates inside the image, corners included
    k = min(group, (min(radius, H - p) + 1) * (min(radius, W - p) + 1))
    thr = tau * sigma * (math.sqrt(m) + math.sqrt(k))
    batch = max(1, (64 << 20) // (16 * k * m))  # groups per SVD call: about 64 MB of arrays
    for r in range(0, rows.size, rows_per_chunk):
        sub = rows[r:r + rows_per_chunk]
        top = max(0, int(sub[0]) - radius)  # matching only sees rows within reach
        bottom = min(H, int(sub[-1]) + p + radius)
        pi, pj = _block_match(g[top:bottom], sub - top, cols, p, radius, k)
        pi += top
        lo, hi = int(pi.min()), int(pi.max()) + p  # the band of rows these patches touch
        for b in range(0, pi.shape[0], batch):
            qi, qj = pi[b:b + batch], pj[b:b + batch]
            n = qi.shape[0]
            M = views[qi, qj].reshape(n, k, m)
            mu = M.mean(1, keepdims=True)
            U, S, Vt = np.linalg.svd(M - mu, full_matrices=False)
            S = np.where(S > thr, S, 0.0) if mode == "hard" else np.maximum(S - thr, 0.0)
            est = (np.matmul(U * S[:, None, :], Vt) + mu).reshape(n, k, C, p * p)
            w = 1.0 / (1.0 + np.count_nonzero(S, axis=1))
            flat = (((qi - lo) * W + qj)[..., None] + pix).ravel()
            wgt = np.broadcast_to(w[:, None, None], (n, k, p * p))
            size = (hi - lo) * W
            den[lo * W:hi * W] += np.bincount(flat, wgt.ravel(), minlength=size)
            for c in range(C):
                num[c, lo * W:hi * W] += np.bincount(flat, (est[:, :, c, :] * wgt).ravel(),
                                                     minlength=size)
    return (num / den).T.reshape(H, W, C).astype(np.float32)


# Orthonormal luminance/opponent transform: keeps white noise white with the same sigma.
_OPP = np.array([[1, 1, 1], [1, 0, -1], [1, -2, 1]], dtype=np.float64)
_OPP = (_OPP / np.linalg.norm(_OPP, axis=1, keepdims=True)).astype(np.float32)


@register_restorer("low-rank", paper="Gu et al., Weighted nuclear norm minimization with "
                   "application to image denoising (WNNM), CVPR 2014; the low-rank matrix of "
                   "similar patches suggested by the SIDD autoencoder paper")
class LowRank(_Classical):
    """Low-rank approximation of groups of similar patches (WNNM-style, one step).

    See :func:`low_rank_denoise`. Colour is processed in an orthonormal opponent space (same
    noise level in every channel), matched on luminance, with the channels of a patch stacked in
    one matrix row. Tuned: 8x8 patches every 4 pixels, 40 patches per group within 10 pixels,
    hard threshold ``tau = 1.0`` (gray; 1.1 for colour, tuned on three Set5 crops); for
    sigma > 30 a second pass re-matches patches on the first estimate (``passes=2``, +0.1 dB at
    sigma 50 for twice the time). Pure numpy: about 1-2 s for a 256x256 gray image on one
    core, 2.5 s for RGB.
    """

    def __init__(self, *, patch: int = 8, step: int = 4, radius: int = 10, group: int = 40,
                 tau: float | None = None, mode: str = "hard", passes: int | None = None) -> None:
        if mode not in ("hard", "soft"):
            raise RestorekitError(f"low-rank mode must be 'hard' or 'soft', got {mode!r}")
        if patch < 2 or step < 1 or radius < 0 or group < 1:
            raise RestorekitError("low-rank needs patch >= 2, step >= 1, radius >= 0, group >= 1")
        self.patch, self.step, self.radius, self.group = patch, step, radius, group
        self.tau, self.mode, self.passes = tau, mode, passes

    def _denoise(self, img: np.ndarray, sigma: float) -> np.ndarray:
        x = img[..., None] if img.ndim == 2 else img
        colour = x.shape[2] == 3
        if colour:
            x = x @ _OPP.T
        tau = self.tau if self.tau is not None else (1.1 if colour else 1.0)
        kw = {"patch": self.patch, "step": min(self.step, self.patch), "radius": self.radius,
              "group": self.group, "tau": tau, "mode": self.mode}
        passes = self.passes if self.passes is not None else (2 if sigma > 30 else 1)
        out = low_rank_denoise(x, sigma / 255.0, **kw)
        for _ in range(passes - 1):
            out = low_rank_denoise(x, sigma / 255.0, guide=out[..., 0] if colour else
                                   out.mean(-1), **kw)
        if colour:
            out = out @ _OPP
        return out[..., 0] if img.ndim == 2 else out


@register_restorer("bm3d", paper="Dabov, Foi, Katkovnik & Egiazarian, Image denoising by sparse "
                   "3-D transform-domain collaborative filtering, IEEE TIP 2007 (CBM3D for colour)",
                   extra="bm3d")
class BM3D(_Classical):
    """BM3D (gray) and CBM3D (RGB, opponent colour space) from the ``bm3d`` package.

    The package takes the noise std on the [0, 1] scale (``sigma / 255``). ``profile`` is the
    package's parameter profile ("np" normal, "refilter", "vn" very noisy, "high", "lc" fast).
    Images with another channel count are filtered one channel at a time. The package's 8x8
    blocks need images of at least 8x8 pixels. On Set12 it gives 32.40 / 29.99 / 26.76 dB at
    sigma 15 / 25 / 50, against the published 32.37 / 29.97 / 26.72 (``benchmarks/classical.py``).
    """

    def __init__(self, *, profile: str = "np") -> None:
        self.profile = profile

    def _denoise(self, img: np.ndarray, sigma: float) -> np.ndarray:
        try:
            import bm3d
        except ImportError:
            raise MissingDependencyError("BM3D needs the optional 'bm3d' package: "
                                         "pip install 'restorekit[bm3d]'") from None
        if min(img.shape[:2]) < 8:
            raise RestorekitError(f"bm3d needs images of at least 8x8 pixels, got {img.shape}")
        s = sigma / 255.0
        if img.ndim == 2:
            return bm3d.bm3d(img, s, profile=self.profile)
        if img.shape[2] == 3:
            return bm3d.bm3d_rgb(img, s, profile=self.profile)
        return np.stack([bm3d.bm3d(img[..., c], s, profile=self.profile)
                         for c in range(img.shape[2])], axis=-1)
