"""Clean ground truth from a burst of noisy shots of a static scene.

This is the ground-truth estimation of the SIDD dataset (Abdelhamed, Lin & Brown, "A
High-Quality Denoising Dataset for Smartphone Cameras", CVPR 2018), as Khan et al. ("Image
Denoise with AutoEncoder", section II.C) summarise it: correct defective pixels in all images;
omit outlier images and align the intensities of the rest; align all images to one reference;
estimate each true pixel intensity by robust regression. :func:`estimate_ground_truth` runs
them on float32 [0, 1] gray (HxW) or RGB (HxWx3) frames in the order below: intensity and
outlier frames are judged *after* translation alignment, so a merely shifted frame is not
mistaken for a bad one.

1. **Defective pixels** (hot, warm, dead, stuck) sit at fixed sensor positions, so they are found
   before alignment: a pixel whose *temporal median* lies beyond all its 8 neighbours' temporal
   medians but one by more than ``defect_threshold`` robust standard deviations (1.4826 MAD of
   median-minus-neighbour-median, image-wide or local, whichever is larger) and that deviates
   the same way in most single frames is defective; each channel is tested on its own. In
   every frame it is replaced by the median of its non-defective neighbours. SIDD maps defects
   from dark and flat frames; a burst alone cannot tell a defect from a one-pixel bright scene
   detail that never moves, so such details may be smoothed.
2. **Reference**: the frame closest (RMS) to the temporal median of the burst, unless given.
3. **Translation**: the peak of the cross-correlation of Hann-windowed frames (computed as in
   phase correlation, Kuglin & Hines 1975, but without whitening, which amplifies noise), then
   Lucas-Kanade least squares (Lucas & Kanade 1981) with a gain and offsets in the model, so
   exposure changes do not bias the shift; all channels are used. Frames are resampled with
   cubic splines; pixels shifted in from outside a frame are marked invalid and not used.
   The papers' dense local alignment is reduced to one global translation per frame.
4. **Intensity alignment**: per-frame ``frame ~ gain * reference + offset`` fitted by Huber
   IRLS against the median of the aligned frames, both blurred first (gain and offset commute
   with the blur, while the noise in the regressor, which would attenuate the gain, drops
   ~50-fold), ignoring possibly clipped pixels; one gain and offset per frame (exposure),
   expressed relative to the reference, whose intensity scale the result keeps.
5. **Outlier frames**: the RMS distance of each aligned, intensity-corrected frame to the median
   frame; a frame whose robust z-score (median/MAD) exceeds ``outlier_z`` and whose distance is
   at least ``outlier_ratio`` times the median distance is dropped (needs >= 3 frames; at most
   half of them are dropped).
6. **Robust estimate**: Tukey biweight M-estimate per pixel (IRLS from the median),
   with the scale from a noise-level function sigma^2(y) = b1*y + b2 (the model of Khan et al.,
   eq. 2) fitted to the residuals, so bright and dark pixels get their own noise level; c = 6
   (see ``TUKEY_C``). It discards what the frame-level stages cannot see: impulses in single
   frames, leftover defects, moving details.

Stages 3-6 run ``passes`` times: the first pass registers frames to the reference frame, later
passes to the current estimate, which is far less noisy (better shifts and gains).

Memory: the burst is held twice (as read and aligned) plus bounded per-pixel temporaries (the
median and robust stages work in row blocks), about 4x the burst's float32 size in all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

from restorekit.errors import InvalidImageError

__all__ = [
    "GroundTruthReport",
    "SyntheticBurst",
    "correct_defects",
    "estimate_ground_truth",
    "estimate_shift",
    "find_defects",
    "make_synthetic_burst",
    "shift_image",
    "tukey_mean",
]

# Tukey's classic c = 4.685 (95 % Gaussian efficiency) lost 0.2-0.3 dB against the plain mean on
# synthetic bursts whose gross outliers the earlier stages had already removed; c = 6 (~98 %)
# loses < 0.1 dB there and still rejects impulses and leftover defects.
TUKEY_C = 6.0
HUBER_C = 1.345
_CLIP_MARGIN = 0.1  # pixels this close to 0 or 1 may be clipped: left out of intensity fits
_FIT_SMOOTH = 2.0  # Gaussian blur (pixels) applied before intensity fits
_MIN_SIDE = 8
_BLOCK_VALUES = 1 << 22  # values per row block in the per-pixel stages
_LK_WINDOW = 512  # Lucas-Kanade refinement uses at most this many rows and columns
#: Below this texture SNR (:func:`texture_snr`) the shifts of a burst are not to be trusted: on
#: synthetic bursts (8 frames, sigma ~18/255) shift errors stay under 0.15 px at SNR ~4 and
#: reach 1-2 px at SNR 0.25-0.5; a flat scene scores ~0 and its "shifts" are noise.
LOW_TEXTURE_SNR = 1.0
#: Prefix of the log lines that are warnings (the command line shows them even when quiet).
WARNING = "warning: "


@dataclass
class GroundTruthReport:
    """What :func:`estimate_ground_truth` found and did, frame indices in input order.

    ``shifts[t] = (dy, dx)``: frame ``t`` shows the reference's scene moved by ``dy`` rows and
    ``dx`` columns (``frame(y, x) ~ reference(y - dy, x - dx)``). ``gains``/``offsets``:
    ``frame ~ gain * reference + offset`` after alignment. ``defects`` is a K x 3 array of
    (row, column, channel). ``distances``/``z_scores`` are the outlier statistics of the last pass.
    ``nlf`` is (b1, b2) of sigma^2(y) = b1*y + b2 fitted to the residuals. ``texture_snr``
    (:func:`texture_snr`; NaN without alignment) says how far the shifts can be trusted.
    """

    n_frames: int
    reference: int
    defects: np.ndarray
    shifts: np.ndarray
    gains: np.ndarray
    offsets: np.ndarray
    dropped: list[int]
    distances: np.ndarray
    z_scores: np.ndarray
    nlf: tuple[float, float]
    passes: int
    texture_snr: float = math.nan
    lines: list[str] = field(default_factory=list)

    @property
    def low_confidence(self) -> bool:
        """True when the scene has too little texture for its shifts to be trusted."""
        return bool(self.texture_snr < LOW_TEXTURE_SNR)

    @property
    def kept(self) -> list[int]:
        """Indices of the frames used in the estimate."""
        return [t for t in range(self.n_frames) if t not in set(self.dropped)]

    def to_dict(self) -> dict:
        """A JSON-friendly summary."""
        return {
            "n_frames": self.n_frames,
            "reference": self.reference,
            "defects": self.defects.tolist(),
            "shifts": self.shifts.tolist(),
            "gains": self.gains.tolist(),
            "offsets": self.offsets.tolist(),
            "dropped": list(self.dropped),
            "distances": self.distances.tolist(),
            "z_scores": self.z_scores.tolist(),
            "nlf": list(self.nlf),
            "passes": self.passes,
            "texture_snr": None if math.isnan(self.texture_snr) else self.texture_snr,
            "low_confidence": self.low_confidence,
        }


# --------------------------------------------------------------------------- input checks


def _stack(frames: Sequence[np.ndarray] | np.ndarray) -> tuple[np.ndarray, bool]:
    """Frames -> float32 N x H x W x C array; returns (stack, was_gray)."""
    if isinstance(frames, np.ndarray) and frames.ndim in (3, 4):
        frames = list(frames)
    frames = list(frames)
    if len(frames) < 2:
        raise InvalidImageError(f"need at least 2 frames, got {len(frames)}")
    arrays = [np.asarray(f) for f in frames]
    first = arrays[0].shape
    for i, a in enumerate(arrays):
        if a.ndim == 3 and a.shape[2] == 1:
            a = a[..., 0]
            arrays[i] = a
        if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
            raise InvalidImageError(f"frame {i} has shape {a.shape}; expected HxW or HxWx3")
        if a.shape != arrays[0].shape:
            raise InvalidImageError(
                f"frame {i} has shape {a.shape} but frame 0 has {first}; all frames of a "
                "burst must have the same size and channels")
    h, w = arrays[0].shape[:2]
    if min(h, w) < _MIN_SIDE:
        raise InvalidImageError(f"frames are {h}x{w}; need at least {_MIN_SIDE}x{_MIN_SIDE}")
    stack = np.stack(arrays).astype(np.float32, copy=False)
    if not np.isfinite(stack).all():
        raise InvalidImageError("frames contain NaN or infinite values")
    gray = stack.ndim == 3
    if gray:
        stack = stack[..., None]
    return np.ascontiguousarray(stack), gray


def _nanmedian0(x: np.ndarray) -> np.ndarray:
    """Median over axis 0 ignoring NaN (NaN where every value is NaN); faster than np.nanmedian."""
    s = np.sort(x, axis=0)  # NaN sorts last
    k = np.sum(~np.isnan(x), axis=0)
    lo = np.take_along_axis(s, np.maximum((k - 1) // 2, 0)[None], axis=0)[0]
    hi = np.take_along_axis(s, np.maximum(k // 2, 0)[None], axis=0)[0]
    out = 0.5 * (lo + hi)
    out[k == 0] = np.nan
    return out


def _row_blocks(shape: tuple[int, ...]) -> list[slice]:
    """Row slices of an N x H x W x C stack holding about ``_BLOCK_VALUES`` values each, so
    per-pixel stages need temporaries of bounded size, whatever the image size."""
    h = shape[1]
    per_row = max(1, int(np.prod(shape)) // max(1, h))
    rows = max(1, _BLOCK_VALUES // per_row)
    return [slice(r, min(h, r + rows)) for r in range(0, h, rows)]


def _median_valid(stack: np.ndarray, valid: np.ndarray | None = None,
                  frames: list[int] | None = None) -> np.ndarray:
    """Per-pixel median over (the chosen) frames of the valid samples, NaN where none; in
    row blocks. ``stack`` is N x H x W x C, ``valid`` N x H x W."""
    idx = list(range(stack.shape[0])) if frames is None else frames
    out = np.empty(stack.shape[1:], dtype=np.float32)
    for sl in _row_blocks(stack.shape):
        x = stack[idx, sl]
        if valid is not None:
            x = np.where(valid[idx, sl][..., None], x, np.nan)
        out[sl] = _nanmedian0(x)
    return out


def _mad_sigma(x: np.ndarray) -> float:
    """Robust standard deviation: 1.4826 * median absolute deviation."""
    x = x[np.isfinite(x)]
    if x.size == 0:
        return 0.0
    return 1.4826 * float(np.median(np.abs(x - np.median(x))))


# --------------------------------------------------------------------------- defective pixels

def _offsets(radius: int) -> list[tuple[int, int]]:
    return [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)
            if (dy, dx) != (0, 0)]


def _neighbours(img: np.ndarray, radius: int = 1) -> np.ndarray:
    """The (2r+1)^2 - 1 neighbours of every pixel of an HxW image (reflected at borders)."""
    h, w = img.shape
    p = np.pad(img, radius, mode="reflect")
    return np.stack([p[radius + dy:radius + dy + h, radius + dx:radius + dx + w]
                     for dy, dx in _offsets(radius)])


def _neighbours_at(img: np.ndarray, ys: np.ndarray, xs: np.ndarray,
                   radius: int = 1) -> np.ndarray:
    """:func:`_neighbours` at the pixels (ys, xs) only: K pixels -> ((2r+1)^2 - 1) x K."""
    p = np.pad(img, radius, mode="reflect")
    return np.stack([p[ys + radius + dy, xs + radius + dx] for dy, dx in _offsets(radius)])


def find_defects(frames: Sequence[np.ndarray] | np.ndarray, *, threshold: float = 4.0,
                 min_contrast: float = 0.02, agreement: float = 0.75) -> np.ndarray:
    """Mask (HxWxC bool, C = 1 for gray) of pixels defective in the whole burst.

    A pixel is defective when its temporal median (a) exceeds the second-highest of its 8
    neighbours' temporal medians (or undercuts the second-lowest; so adjacent pairs are found
    too) by more than ``threshold`` robust standard deviations of the median-minus-neighbour-
    median differences (the larger of the image-wide and the local 7x7 spread, so textured
    areas need more) and by more than ``min_contrast``; and (b) in at least ``agreement`` of
    the frames it deviates from its own neighbours in that same direction (a defect is there in
    every shot; a noise or texture fluke is not). Frames are N x H x W(x C).
    """
    stack = _as_stack(frames)
    med = _median_valid(stack)
    mask = np.zeros(med.shape, dtype=bool)
    for c in range(med.shape[2]):
        m = med[..., c]
        nb = np.sort(_neighbours(m), axis=0)
        d = m - 0.5 * (nb[3] + nb[4])
        local = 1.4826 * ndi.median_filter(np.abs(d), size=7, mode="reflect")
        limit = np.maximum(threshold * np.maximum(local, _mad_sigma(d)), min_contrast)
        # beyond all neighbours but one, by the margin: edges and corners of objects are not
        cand = (m - nb[-2] > limit) | (nb[1] - m > limit)
        if not cand.any():
            continue
        ys, xs = np.nonzero(cand)
        sign = np.sign(d[ys, xs])
        agree = np.zeros(len(ys))
        for t in range(stack.shape[0]):
            f = stack[t, ..., c]
            e = f[ys, xs] - np.median(_neighbours_at(f, ys, xs), axis=0)
            agree += (e * sign) > 0
        keep = agree >= agreement * stack.shape[0]
        mask[ys[keep], xs[keep], c] = True
    return mask


def _as_stack(frames: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    stack = np.asarray(frames, dtype=np.float32)
    return stack[..., None] if stack.ndim == 3 else stack


def correct_defects(frames: Sequence[np.ndarray] | np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Replace masked pixels in every frame by the median of their non-defective neighbours.

    Frames are N x H x W(x C) and ``mask`` is H x W(x C); returns a corrected copy shaped like
    the input. Clusters grow the neighbourhood (3x3, 5x5, 7x7) until a good neighbour exists.
    """
    arr = np.asarray(frames, dtype=np.float32)
    out = (arr[..., None] if arr.ndim == 3 else arr).copy()
    _correct_in_place(out, mask[..., None] if mask.ndim == 2 else mask)
    return out if arr.ndim == 4 else out[..., 0]


def _correct_in_place(stack: np.ndarray, mask: np.ndarray) -> None:
    """:func:`correct_defects` on an N x H x W x C stack, in place (only good neighbours are
    read, and those are never written)."""
    out = stack
    for c in range(stack.shape[3]):
        bad = mask[..., c]
        if not bad.any():
            continue
        todo = bad.copy()
        for radius in (1, 2, 3):
            if not todo.any():
                break
            ys, xs = np.nonzero(todo)
            nb_bad = _neighbours_at(bad, ys, xs, radius)
            filled = ~nb_bad.all(axis=0)
            for t in range(stack.shape[0]):
                nb = _neighbours_at(stack[t, ..., c], ys, xs, radius)
                nb[nb_bad] = np.nan
                vals = _nanmedian0(nb)
                out[t, ys[filled], xs[filled], c] = vals[filled]
            todo[ys[filled], xs[filled]] = False
        if todo.any():  # a huge cluster: fall back to the frame's median value
            for t in range(stack.shape[0]):
                out[t, todo, c] = np.median(stack[t, ..., c][~bad])


# --------------------------------------------------------------------------- alignment


def _planes(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img, dtype=np.float64)
    return a[..., None] if a.ndim == 2 else a


def _cross_correlation(template: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """Translation from the peak of the Hann-windowed cross-correlation summed over channels,
    refined to sub-pixel by a parabola through the peak and its neighbours on each axis."""
    h, w, _ = template.shape
    win = np.outer(np.hanning(h), np.hanning(w))[..., None]
    a = np.fft.rfft2((template - template.mean(axis=(0, 1))) * win, axes=(0, 1))
    b = np.fft.rfft2((moving - moving.mean(axis=(0, 1))) * win, axes=(0, 1))
    # Plain cross-correlation (no spectral whitening): more robust to noise than phase-only.
    cc = np.fft.irfft2((b * np.conj(a)).sum(axis=2), s=(h, w))
    py, px = np.unravel_index(int(np.argmax(cc)), cc.shape)
    peak = []
    for pos, size, axis in ((py, h, 0), (px, w, 1)):
        line = cc[:, px] if axis == 0 else cc[py, :]
        lo, mid, hi = line[(pos - 1) % size], line[pos], line[(pos + 1) % size]
        den = lo - 2 * mid + hi
        frac = 0.5 * (lo - hi) / den if den < 0 else 0.0
        peak.append(((pos + size // 2) % size - size // 2) + float(np.clip(frac, -0.5, 0.5)))
    return np.array(peak)


def _lucas_kanade(template: np.ndarray, moving: np.ndarray, start: np.ndarray,
                  iters: int = 20, margin: int = 2) -> np.ndarray | None:
    """Least-squares translation (Lucas & Kanade 1981) with a shared gain and per-channel
    offsets: ``moving(y + d) ~ g * template + o_c``; HxWxC planes; None if it fails."""
    h, w, ch = template.shape
    grads = [np.gradient(template[..., c]) for c in range(ch)]
    coeffs = [ndi.spline_filter(moving[..., c], order=3, mode="nearest") for c in range(ch)]
    d = start.astype(np.float64).copy()
    for _ in range(iters):
        e = int(np.ceil(np.abs(d).max())) + margin  # skip pixels shifted in from outside
        if 2 * e >= min(h, w) - 4:
            return None
        sl = (slice(e, h - e), slice(e, w - e))
        rows, rhs = [], []
        for c in range(ch):
            warped = ndi.shift(coeffs[c], (-d[0], -d[1]), order=3, mode="nearest",
                               prefilter=False)[sl]
            t = template[sl + (c,)].ravel()
            ones = np.zeros((t.size, ch))
            ones[:, c] = 1.0
            rows.append(np.concatenate(
                [np.stack([grads[c][0][sl].ravel(), grads[c][1][sl].ravel(), t], axis=1), ones],
                axis=1))
            rhs.append(warped.ravel())
        # moving(y + d + step) ~ g*template + o  <=>  warped_d ~ g*t + o - g*J.step
        coef = _solve_normal(np.concatenate(rows), np.concatenate(rhs))
        if coef is None:
            return None
        g = coef[2] if abs(coef[2]) > 1e-6 else 1.0
        step = -coef[:2] / g
        d = d + step
        if not np.all(np.isfinite(d)):
            return None
        if np.abs(step).max() < 1e-3:
            break
    return d


def _solve_normal(a: np.ndarray, b: np.ndarray,
                  w: np.ndarray | None = None) -> np.ndarray | None:
    """(Weighted) least squares through the normal equations; None if singular."""
    aw = a if w is None else a * w[:, None]
    try:
        return np.linalg.solve(aw.T @ a, aw.T @ b)
    except np.linalg.LinAlgError:
        return None


def _busiest_window(img: np.ndarray, size: int) -> tuple[slice, slice]:
    """The size x size window (whole image if smaller) with the most gradient energy."""
    h, w = img.shape[:2]
    if h <= size and w <= size:
        return slice(0, h), slice(0, w)
    sh, sw = min(h, size), min(w, size)
    energy = sum(np.abs(np.diff(img[..., c], axis=0))[:, :-1] ** 2
                 + np.abs(np.diff(img[..., c], axis=1))[:-1] ** 2 for c in range(img.shape[2]))
    integral = np.pad(np.cumsum(np.cumsum(energy, axis=0), axis=1), ((1, 0), (1, 0)))
    eh, ew = energy.shape
    step = max(1, size // 8)
    best, pos = -1.0, (0, 0)
    for y in range(0, max(1, eh - sh + 1), step):
        for x in range(0, max(1, ew - sw + 1), step):
            y1, x1 = min(eh, y + sh), min(ew, x + sw)
            total = integral[y1, x1] - integral[y, x1] - integral[y1, x] + integral[y, x]
            if total > best:
                best, pos = total, (y, x)
    return slice(pos[0], pos[0] + sh), slice(pos[1], pos[1] + sw)


def estimate_shift(template: np.ndarray, moving: np.ndarray, *, refine: bool = True,
                   smooth: float = 1.0) -> np.ndarray:
    """Sub-pixel translation ``(dy, dx)`` with ``moving(y, x) ~ template(y - dy, x - dx)``.

    Cross-correlation of Hann-windowed frames (Kuglin & Hines 1975, without whitening) with a
    parabolic peak fit; then, with ``refine``, Lucas-Kanade least squares with a gain and
    offsets, so exposure changes do not bias it, on frames blurred by a Gaussian of ``smooth``
    pixels (less noise in the gradients) and, for big frames, within the 512x512 window with
    the most gradient energy. HxW or HxWxC (all channels used jointly).
    """
    t, m = _planes(template), _planes(moving)
    if t.shape != m.shape:
        raise InvalidImageError(f"cannot register shapes {t.shape} and {m.shape}")
    coarse = _cross_correlation(t, m)
    if not refine:
        return coarse
    margin = 2 + int(np.ceil(2 * smooth))
    # A global shift needs no more than a window of _LK_WINDOW^2 pixels: the busiest one.
    win = _busiest_window(t, _LK_WINDOW + 2 * (int(np.ceil(np.abs(coarse).max())) + margin))
    # Smoothing both frames alike does not move them but takes most noise out of the gradients.
    ts, ms = (np.stack([ndi.gaussian_filter(a[win + (c,)], smooth, truncate=2.0)
                        for c in range(a.shape[2])], axis=-1) for a in (t, m))
    fine = _lucas_kanade(ts, ms, coarse, margin=margin)
    if fine is None or np.abs(fine - coarse).max() > 1.0:
        return coarse  # diverged (featureless or changed scene): keep the correlation peak
    return fine


def texture_snr(estimate: np.ndarray, nlf: tuple[float, float], n_frames: int, *,
                smooth: float = 1.0) -> float:
    """Texture a single frame has for registration, over its noise: 0 for a flat scene.

    Gradient energy of the (blurred, as :func:`estimate_shift` blurs) burst estimate within the
    registration window, in its weakest direction (a scene of stripes has none along them),
    less what the estimate's own noise (``nlf`` variance over ``n_frames``) contributes, per
    pixel and relative to the gradient energy of one frame's noise. The noise term is counted
    twice: on synthetic bursts the estimate's noise gradients measure about twice the white-
    noise value. Registration is reliable above about 1 (:data:`LOW_TEXTURE_SNR`).
    """
    t = _planes(estimate).astype(np.float64)
    win = _busiest_window(t, _LK_WINDOW)
    a = np.zeros((2, 2))
    for c in range(t.shape[2]):
        gy, gx = np.gradient(ndi.gaussian_filter(t[win + (c,)], smooth, truncate=2.0))
        a += [[np.sum(gy * gy), np.sum(gy * gx)], [np.sum(gy * gx), np.sum(gx * gx)]]
    var = max(nlf[0] * float(np.mean(t)) + nlf[1], 1e-12)  # one frame's noise variance
    impulse = np.zeros((4 * int(np.ceil(2 * smooth)) + 3,) * 2)
    impulse[impulse.shape[0] // 2, impulse.shape[1] // 2] = 1.0
    hy, hx = np.gradient(ndi.gaussian_filter(impulse, smooth, truncate=2.0))
    frame_noise = var * t[win].size * max(np.sum(hy ** 2), np.sum(hx ** 2))
    weakest = float(np.linalg.eigvalsh(a).min())
    return max(0.0, (weakest - 2.0 * frame_noise / max(1, n_frames)) / frame_noise)


def shift_image(image: np.ndarray, shift: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Undo a translation: returns (aligned, valid) with ``aligned(y, x) = image(y + dy, x + dx)``.

    Cubic-spline resampling per channel; ``valid`` (HxW bool) is False where the sample falls
    outside the image (content not seen by this frame).
    """
    dy, dx = float(shift[0]), float(shift[1])
    img = np.asarray(image, dtype=np.float32)
    h, w = img.shape[:2]
    if dy == 0.0 and dx == 0.0:
        return img.copy(), np.ones((h, w), dtype=bool)
    planes = img[..., None] if img.ndim == 2 else img
    out = np.empty_like(planes)
    for c in range(planes.shape[2]):
        out[..., c] = ndi.shift(planes[..., c], (-dy, -dx), order=3, mode="nearest")
    ys = np.arange(h) + dy
    xs = np.arange(w) + dx
    valid = ((ys >= -1e-6) & (ys <= h - 1 + 1e-6))[:, None] & \
        ((xs >= -1e-6) & (xs <= w - 1 + 1e-6))[None, :]
    return (out[..., 0] if img.ndim == 2 else out), valid


# --------------------------------------------------------------------------- intensity


def _fit_gain_offset(frame: np.ndarray, target: np.ndarray, use: np.ndarray,
                     iters: int = 10) -> tuple[float, float]:
    """Huber IRLS fit of ``frame = gain * target + offset`` over the ``use`` pixels."""
    y = frame[use].astype(np.float64)
    x = target[use].astype(np.float64)
    if y.size > 50_000:  # a deterministic subsample is plenty for two parameters
        step = y.size // 50_000 + 1
        y, x = y[::step], x[::step]
    if y.size < 10 or np.ptp(x) < 1e-6:
        return 1.0, float(np.median(y - x)) if y.size else 0.0
    wts = np.ones_like(y)
    g, o = 1.0, 0.0
    for _ in range(iters):
        coef = _solve_normal(np.stack([x, np.ones_like(x)], axis=1), y, wts)
        if coef is None:
            break
        g, o = coef
        r = y - g * x - o
        s = max(_mad_sigma(r), 1e-6)
        u = np.abs(r) / (HUBER_C * s)
        wts = np.where(u <= 1, 1.0, 1.0 / np.maximum(u, 1e-12))
    if not (np.isfinite(g) and np.isfinite(o)) or g <= 1e-3:
        return 1.0, 0.0
    return float(g), float(o)


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return np.stack([ndi.gaussian_filter(img[..., c], sigma, truncate=2.0)
                     for c in range(img.shape[2])], axis=-1)


def _intensity_fits(aligned: np.ndarray, valid: np.ndarray,
                    target: np.ndarray) -> list[tuple[float, float]]:
    """(gain, offset) of every aligned frame (N x H x W x C) against ``target`` (H x W x C).

    Frames and target are blurred first: gain and offset commute with the blur, but the noise
    in the regressor (which would attenuate the gain, the errors-in-variables bias, and make the
    reference, part of the target, fit differently from the others) drops ~50-fold.
    """
    radius = int(np.ceil(2 * _FIT_SMOOTH))
    tb = _blur(target, _FIT_SMOOTH)
    fits = []
    for t in range(aligned.shape[0]):
        inner = ndi.binary_erosion(valid[t], iterations=radius, border_value=1)
        fb = _blur(np.where(valid[t][..., None], aligned[t], target), _FIT_SMOOTH)
        ok = np.broadcast_to(inner[..., None], tb.shape)
        use = ok & (tb > _CLIP_MARGIN) & (tb < 1 - _CLIP_MARGIN)
        if use.sum() < 1000:  # a dark or bright scene: use what there is
            use = ok & (tb > 0.02) & (tb < 0.98)
        fits.append(_fit_gain_offset(fb, tb, use))
    return fits


# --------------------------------------------------------------------------- robust estimate


def _fit_nlf(values: np.ndarray, level: np.ndarray, n: int) -> tuple[float, float]:
    """Fit sigma^2(y) = b1*y + b2 (b1, b2 >= 0) to residuals against the median of ``n`` frames."""
    from scipy.optimize import nnls

    ok = np.isfinite(values) & np.isfinite(level)
    r, y = values[ok].astype(np.float64), level[ok].astype(np.float64)
    floor = (0.5 / 255) ** 2
    if r.size < 100:
        return 0.0, max(_mad_sigma(r) ** 2, floor)
    if r.size > 160_000:
        step = r.size // 160_000 + 1
        r, y = r[::step], y[::step]
    corr = n / (n - 1) if n > 1 else 1.0  # residuals to the median are smaller than the noise
    edges = np.unique(np.quantile(y, np.linspace(0, 1, 17)))
    ys, vs, ws = [], [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (y >= lo) & (y <= hi)
        if sel.sum() < 50:
            continue
        ys.append(float(np.median(y[sel])))
        vs.append(_mad_sigma(r[sel]) ** 2 * corr)
        ws.append(np.sqrt(sel.sum()))
    if len(ys) < 2:
        return 0.0, max(_mad_sigma(r) ** 2 * corr, floor)
    a = np.stack([np.array(ys), np.ones(len(ys))], axis=1) * np.array(ws)[:, None]
    (b1, b2), _ = nnls(a, np.array(vs) * np.array(ws))
    return float(b1), float(max(b2, floor))


def tukey_mean(values: np.ndarray, valid: np.ndarray | None = None,
               scale: np.ndarray | float | Callable[[np.ndarray], np.ndarray] = 0.05, *,
               c: float = TUKEY_C, iters: int = 10) -> np.ndarray:
    """Tukey biweight M-estimate of location over axis 0 (IRLS started from the median).

    ``values`` is N x ...; ``valid`` (same shape, optional) excludes samples; ``scale`` is the
    noise standard deviation (a number, an array, or a function of the current estimate).
    Pixels where every weight vanishes keep the median.
    """
    x = np.asarray(values, dtype=np.float32)
    ok = np.ones(x.shape, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    mu = _nanmedian0(np.where(ok, x, np.nan))
    mu = np.where(np.isnan(mu), 0.0, mu).astype(np.float32)
    for _ in range(iters):
        s = scale(mu) if callable(scale) else scale
        s = np.maximum(np.asarray(s, dtype=np.float32), 1e-6)
        u = (x - mu) / (c * s)
        w = np.where(ok & (np.abs(u) < 1), (1 - u * u) ** 2, 0.0).astype(np.float32)
        wsum = w.sum(axis=0)
        new = np.where(wsum > 1e-8, (w * x).sum(axis=0) / np.maximum(wsum, 1e-8), mu)
        done = np.abs(new - mu).max() < 1e-5
        mu = new.astype(np.float32)
        if done:
            break
    return mu


# --------------------------------------------------------------------------- outlier frames


def _outlier_frames(dist: np.ndarray, candidates: list[int], z_limit: float,
                    ratio: float, reference: int) -> tuple[list[int], np.ndarray]:
    """Robust z-score of each frame's distance; the worst frames past both limits are dropped."""
    z = np.zeros_like(dist)
    d = dist[candidates]
    med = float(np.median(d))
    mad = 1.4826 * float(np.median(np.abs(d - med)))
    z[:] = (dist - med) / max(mad, 1e-3 * med, 1e-12)
    if len(candidates) < 3:
        return [], z
    bad = [t for t in candidates if z[t] > z_limit and dist[t] > ratio * med and t != reference]
    bad.sort(key=lambda t: -z[t])
    return sorted(bad[: (len(candidates) - 1) // 2]), z


def _distances(aligned: np.ndarray, valid: np.ndarray, med: np.ndarray) -> np.ndarray:
    """RMS distance of every aligned frame to the median frame over its valid pixels."""
    n = aligned.shape[0]
    sq, cnt = np.zeros(n), np.zeros(n)
    for sl in _row_blocks(aligned.shape):
        ok = np.broadcast_to(valid[:, sl][..., None], aligned[:, sl].shape)
        r = np.where(ok, aligned[:, sl] - med[sl], 0.0)
        sq += (r.astype(np.float64) ** 2).reshape(n, -1).sum(axis=1)
        cnt += ok.reshape(n, -1).sum(axis=1)
    return np.sqrt(sq / np.maximum(cnt, 1))


def _residual_sample(aligned: np.ndarray, valid: np.ndarray, med: np.ndarray,
                     kept: list[int], size: int = 160_000) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic subsample of (residual to the median, median) over the kept frames."""
    total = len(kept) * int(np.prod(aligned.shape[1:]))
    step = max(1, total // size)
    rs, ys = [], []
    for sl in _row_blocks(aligned.shape):
        x = aligned[kept, sl]
        ok = np.broadcast_to(valid[kept, sl][..., None], x.shape)
        level = np.broadcast_to(med[sl], x.shape)
        rs.append(np.where(ok, x - level, np.nan).ravel()[::step])
        ys.append(level.ravel()[::step])
    return np.concatenate(rs), np.concatenate(ys)


def _combine(aligned: np.ndarray, valid: np.ndarray, kept: list[int], estimator: str,
             nlf: tuple[float, float]) -> np.ndarray:
    """The per-pixel estimate over the kept frames, in row blocks."""
    b1, b2 = nlf
    out = np.empty(aligned.shape[1:], dtype=np.float32)
    for sl in _row_blocks(aligned.shape):
        x = aligned[kept, sl]
        ok = np.broadcast_to(valid[kept, sl][..., None], x.shape)
        if estimator == "tukey":
            out[sl] = tukey_mean(x, ok, lambda mu: np.sqrt(b1 * np.clip(mu, 0, 1) + b2))
        elif estimator == "median":
            out[sl] = np.nan_to_num(_nanmedian0(np.where(ok, x, np.nan)))
        else:
            out[sl] = np.where(ok, x, 0).sum(axis=0) / np.maximum(ok.sum(axis=0), 1)
    return out


# --------------------------------------------------------------------------- the pipeline


def estimate_ground_truth(
    frames: Sequence[np.ndarray] | np.ndarray,
    *,
    reference: int | None = None,
    passes: int = 2,
    correct_defective: bool = True,
    defect_threshold: float = 4.0,
    align: bool = True,
    subpixel: bool = True,
    align_intensity: bool = True,
    drop_outliers: bool = True,
    outlier_z: float = 3.5,
    outlier_ratio: float = 1.25,
    estimator: str = "tukey",
    log: Callable[[str], None] | None = None,
) -> tuple[np.ndarray, GroundTruthReport]:
    """Estimate the clean image behind a burst of noisy frames of a static scene (SIDD method).

    ``frames``: two or more float32 [0, 1] images of one size, HxW or HxWx3. Returns the
    estimate (shaped like a frame, in the reference frame's coordinates and intensity scale)
    and a :class:`GroundTruthReport`. ``reference`` picks the reference frame (default: the
    one closest to the burst's median; it is never dropped). The flags switch stages off;
    ``estimator`` is ``"tukey"`` (default), ``"mean"`` or ``"median"``. ``log`` receives one
    line per stage.
    Raises :class:`InvalidImageError` for fewer than 2 frames, mismatched sizes or bad values.
    """
    say = log or (lambda _line: None)
    lines: list[str] = []

    def emit(line: str) -> None:
        lines.append(line)
        say(line)

    stack, gray = _stack(frames)
    n, h, w, ch = stack.shape
    if estimator not in ("tukey", "mean", "median"):
        raise InvalidImageError(f"unknown estimator {estimator!r}; use tukey, mean or median")
    if passes < 1:
        raise InvalidImageError(f"passes must be >= 1, got {passes}")
    if reference is not None and not -n <= reference < n:
        raise InvalidImageError(f"reference frame {reference} out of range (0..{n - 1})")
    emit(f"frames: {n} of {h}x{w} {'gray' if gray else 'RGB'}")

    # 1. defective pixels, in sensor coordinates (before alignment)
    if correct_defective:
        mask = find_defects(stack, threshold=defect_threshold)
        _correct_in_place(stack, mask)  # our own stack: the caller's frames are never touched
        ys, xs, cs = np.nonzero(mask)
        defects = np.stack([ys, xs, cs], axis=1).astype(np.int64)
        pixels = len({(int(y), int(x)) for y, x in zip(ys, xs, strict=True)})
        emit(f"defective pixels: {pixels} corrected ({len(defects)} channel values)")
    else:
        defects = np.zeros((0, 3), dtype=np.int64)
        emit("defective pixels: skipped")

    # 2. reference frame
    if reference is None:
        med = _median_valid(stack)
        sq = np.zeros(n)
        for sl in _row_blocks(stack.shape):
            sq += ((stack[:, sl] - med[sl]) ** 2).reshape(n, -1).sum(axis=1)
        ref = int(np.argmin(sq))
        emit(f"reference: frame {ref} (closest to the burst median)")
    else:
        ref = int(reference) % n
        emit(f"reference: frame {ref} (given)")

    shifts = np.zeros((n, 2))
    gains, offsets = np.ones(n), np.zeros(n)
    dropped: list[int] = []
    dist, z = np.zeros(n), np.zeros(n)
    nlf = (0.0, 0.0)
    template = estimate = stack[ref]
    kept = list(range(n))
    for p in range(passes):
        # 3. translation, relative to the reference (pass 1) or to the current estimate
        if align:
            raw = np.array([estimate_shift(template, stack[t], refine=subpixel)
                            if (t != ref or p > 0) else np.zeros(2) for t in range(n)])
            if not subpixel:
                raw = np.round(raw)
            shifts = raw - raw[ref]
        aligned = np.empty_like(stack)
        valid = np.empty((n, h, w), dtype=bool)
        for t in range(n):
            aligned[t], valid[t] = shift_image(stack[t], shifts[t])

        # 4. intensity alignment against the median of the aligned frames
        if align_intensity:
            target = estimate if p > 0 else _median_valid(aligned, valid)
            fits = _intensity_fits(aligned, valid, np.nan_to_num(target))
            g_ref, o_ref = fits[ref]
            gains = np.array([g / g_ref for g, _ in fits])
            offsets = np.array([o - (g / g_ref) * o_ref for g, o in fits])
            for t in range(n):
                aligned[t] -= np.float32(offsets[t])
                aligned[t] /= np.float32(gains[t])

        # 5. outlier frames
        med = _median_valid(aligned, valid)
        dist = _distances(aligned, valid, med)
        if drop_outliers:
            dropped, z = _outlier_frames(dist, list(range(n)), outlier_z, outlier_ratio, ref)
        kept = [t for t in range(n) if t not in dropped]

        # 6. robust per-pixel estimate over the kept frames
        nlf = _fit_nlf(*_residual_sample(aligned, valid, med, kept), len(kept))
        estimate = _combine(aligned, valid, kept, estimator, nlf)
        estimate = np.where(valid[kept].any(axis=0)[..., None], estimate, stack[ref])
        template = estimate

    span = float(np.abs(shifts[kept]).max())
    snr = texture_snr(estimate, nlf, len(kept)) if align else math.nan
    emit(f"alignment: {'translation' if align else 'off'}, max |shift| {span:.2f} px (kept frames)"
         + (f", {passes} passes, texture SNR {snr:.2f}" if align else ""))
    if snr < LOW_TEXTURE_SNR:
        emit(f"{WARNING}low confidence in the shifts: the scene has little texture for its "
             f"noise (texture SNR {snr:.2f} < {LOW_TEXTURE_SNR:g}); if the camera did not move, "
             "skip alignment (align=False, --no-align)")
    if align_intensity:
        emit(f"intensity: gains {gains[kept].min():.3f}..{gains[kept].max():.3f}, "
             f"offsets {offsets[kept].min():+.4f}..{offsets[kept].max():+.4f} (kept frames)")
    else:
        emit("intensity: skipped")
    if drop_outliers:
        names = ", ".join(str(t) for t in dropped) or "none"
        emit(f"outlier frames: dropped {len(dropped)} ({names}); kept {n - len(dropped)}")
    else:
        emit("outlier frames: skipped")
    emit(f"estimate: {estimator} over {n - len(dropped)} frames, noise sigma(0.5) "
         f"{255 * np.sqrt(nlf[0] * 0.5 + nlf[1]):.2f}/255")
    result = np.clip(estimate, 0.0, 1.0).astype(np.float32)
    report = GroundTruthReport(
        n_frames=n, reference=ref, defects=defects, shifts=shifts, gains=gains,
        offsets=offsets, dropped=list(dropped), distances=dist, z_scores=z, nlf=nlf,
        passes=passes, texture_snr=snr, lines=lines,
    )
    return (result[..., 0] if gray else result), report


# --------------------------------------------------------------------------- validation data


@dataclass
class SyntheticBurst:
    """A simulated burst and what was done to make it (for validation and benchmarks)."""

    frames: list[np.ndarray]
    shifts: np.ndarray  # (N, 2): frame t shows the clean scene moved by (dy, dx)
    gains: np.ndarray
    offsets: np.ndarray
    defects: np.ndarray  # HxW bool: defective sensor pixels
    bad_frame: int | None


def make_synthetic_burst(
    clean: np.ndarray,
    n_frames: int,
    *,
    seed: int,
    max_shift: float = 3.0,
    b1: float = 0.01,
    b2: float = 0.0004,
    defect_fraction: float = 0.002,
    gain_jitter: float = 0.05,
    offset_jitter: float = 0.02,
    impulse_fraction: float = 0.001,
    bad_frame: int | None = 2,
) -> SyntheticBurst:
    """Noisy shots of ``clean`` (HxW or HxWx3 in [0, 1]) as a hand-held camera would take them.

    Frame 0 is the clean scene exactly (no shift, gain 1, offset 0); every other frame is moved
    by a random sub-pixel translation in [-max_shift, max_shift] (cubic spline) and gets a
    random gain and offset. All frames get Poisson-Gaussian noise sigma^2 = b1*y + b2 (clipped
    to [0, 1]), the same defective pixels (a third each stuck at 1, dead at 0, "warm" = +0.3)
    and, in each frame, ``impulse_fraction`` of the pixels hit by a transient 0-or-1 impulse.
    Frame ``bad_frame`` (if < n_frames) is ruined: motion blur, a flash (gain 1.4) and an
    occluding blob. ``seed`` makes it reproducible.
    """
    rng = np.random.default_rng(seed)
    img = np.asarray(clean, dtype=np.float32)
    h, w = img.shape[:2]
    shifts = rng.uniform(-max_shift, max_shift, size=(n_frames, 2))
    gains = 1 + rng.uniform(-gain_jitter, gain_jitter, size=n_frames)
    offsets = rng.uniform(-offset_jitter, offset_jitter, size=n_frames)
    shifts[0], gains[0], offsets[0] = 0.0, 1.0, 0.0
    defects = rng.random((h, w)) < defect_fraction
    kinds = rng.integers(0, 3, size=(h, w))  # 0 stuck high, 1 dead, 2 warm
    bad = bad_frame if bad_frame is not None and 0 <= bad_frame < n_frames else None
    frames = []
    for t in range(n_frames):
        planes = img[..., None] if img.ndim == 2 else img
        moved = np.stack([ndi.shift(planes[..., c], shifts[t], order=3, mode="nearest")
                          for c in range(planes.shape[2])], axis=-1)
        moved = np.clip(moved, 0, 1)
        if t == bad:
            moved = ndi.uniform_filter1d(moved, size=9, axis=1)  # horizontal camera shake
            cy, cx = rng.integers(0, h), rng.integers(0, w)
            yy, xx = np.mgrid[0:h, 0:w]
            blob = (yy - cy) ** 2 + (xx - cx) ** 2 < (0.25 * min(h, w)) ** 2
            moved[blob] = rng.uniform(0, 1)
            moved = np.clip(moved * 1.4, 0, 1)
        sig = gains[t] * moved + offsets[t]
        noisy = sig + np.sqrt(np.maximum(b1 * np.clip(sig, 0, 1) + b2, 0)) \
            * rng.standard_normal(sig.shape)
        noisy[defects & (kinds == 0)] = 1.0
        noisy[defects & (kinds == 1)] = 0.0
        warm = defects & (kinds == 2)
        noisy[warm] += 0.3
        hits = rng.random((h, w)) < impulse_fraction
        noisy[hits] = rng.integers(0, 2, size=(int(hits.sum()), 1))  # noisy is H x W x C
        noisy = np.clip(noisy, 0, 1).astype(np.float32)
        frames.append(noisy[..., 0] if img.ndim == 2 else noisy)
    return SyntheticBurst(frames=frames, shifts=shifts, gains=gains, offsets=offsets,
                          defects=defects, bad_frame=bad)
