"""The quality a JPEG file was saved at, read from its quantization tables.

Almost every encoder (libjpeg and its descendants: Pillow, OpenCV, ImageMagick, GIMP, most
cameras' firmware) builds its tables by scaling the example tables of the JPEG standard
(ITU-T T.81, Annex K) with the IJG formula: scale = 5000 / q below quality 50, 200 - 2q above,
each entry (base * scale + 50) // 100 clamped to 1..255. Inverting it gives the quality exactly
for such files and the nearest IJG quality for others (``exact`` tells which). It tells a user
whether `--task jpeg` is worth running, without decoding a pixel.

An image that was a JPEG once but is now a PNG (a screenshot, a conversion) has no tables left;
:func:`estimate_quality` recovers the quality from its pixels instead: the 8x8 DCT coefficients
of a decoded JPEG still sit on multiples of the quantization steps (Fan and de Queiroz, "Identi-
fication of bitmap compression history: JPEG detection and quantizer estimation", IEEE TIP 2003).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["BLOCKING_QUALITY", "JpegQuality", "estimate_quality", "ijg_table",
           "quality_from_tables", "read_jpeg_quality", "STANDARD_LUMA"]

#: At or below this quality JPEG blocking is usually visible and worth removing: the shipped
#: deblocker gains 1.2-1.4 dB on Classic5 from quality 10 to 40 (docs/benchmarks/zoo_quality.md).
BLOCKING_QUALITY = 50

#: ITU-T T.81 Annex K.1, luminance, natural (row-major) order.
STANDARD_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
])


def _zigzag() -> np.ndarray:
    """Natural index of each zigzag position (the order of a DQT segment)."""
    order = sorted(((i, j) for i in range(8) for j in range(8)),
                   key=lambda ij: (ij[0] + ij[1], ij[0] if (ij[0] + ij[1]) % 2 else ij[1]))
    return np.array([8 * i + j for i, j in order])


_ZIGZAG = _zigzag()


@dataclass(frozen=True)
class JpegQuality:
    """An IJG quality (1-100); ``exact``: the file's luminance table is that quality's."""

    quality: int
    exact: bool


def ijg_table(base: Sequence[int] | np.ndarray, quality: int) -> np.ndarray:
    """``base`` scaled to ``quality`` the way libjpeg's ``jpeg_set_quality`` does (baseline)."""
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be 1-100, got {quality}")
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((np.asarray(base, dtype=np.int64) * scale + 50) // 100, 1, 255)


_TABLES = np.stack([ijg_table(STANDARD_LUMA, q) for q in range(1, 101)])  # row q-1


def quality_from_tables(tables: Mapping[int, Sequence[int]]) -> JpegQuality | None:
    """The IJG quality nearest the luminance table (``tables[0]``, 64 entries), or None.

    The entries may come in natural order (Pillow >= 8.3) or zigzag order (a DQT segment, older
    Pillow); the better-matching order is used.
    """
    luma = tables.get(0) if tables else None
    if luma is None or len(luma) != 64:
        return None
    t = np.asarray(luma, dtype=np.int64)
    natural = np.empty_like(t)
    natural[_ZIGZAG] = t  # in case t is in zigzag order
    errors = np.minimum(np.abs(_TABLES - t).sum(1), np.abs(_TABLES - natural).sum(1))
    best = int(np.argmin(errors))
    return JpegQuality(best + 1, bool(errors[best] == 0))


def read_jpeg_quality(path: str | os.PathLike[str]) -> JpegQuality | None:
    """The quality of the JPEG file at ``path`` (header only); None for other formats."""
    from PIL import Image

    with Image.open(path) as im:
        return quality_from_tables(getattr(im, "quantization", None) or {}) if (
            im.format == "JPEG") else None


#: Zigzag positions of the AC coefficients read by :func:`estimate_quality` (low frequencies:
#: seldom quantized to zero, so their steps show even at quality 5).
_ESTIMATED_AC = 15
_CROP = 1024  # a centre crop this big (16,384 blocks) is plenty; bounds time and memory
_TOLERANCE = 1.5  # a decoded coefficient's distance from its bin (pixel rounding: std ~0.3)
_SMALLEST_STEP = 5  # below it, any value lies near some multiple: steps cannot be told


def _blocks(a: np.ndarray) -> np.ndarray:
    """HxWxC (H, W multiples of 8) -> the 8x8 blocks, row by row: Nx8x8xC."""
    h, w, c = a.shape
    return a.reshape(h // 8, 8, w // 8, 8, c).swapaxes(1, 2).reshape(-1, 8, 8, c)


def estimate_quality(image: np.ndarray) -> JpegQuality | None:
    """The IJG quality an image was JPEG-compressed at, read from its pixels; None if it shows
    no JPEG history (or too little to tell, a quality above about 80, or steps that fit no IJG
    table).

    ``image`` is float in [0, 1], gray (HxW) or colour (HxWx3, luma taken as JPEG does), on the
    JPEG's block grid (not cropped by a non-multiple of 8, not resized). For each of the lowest
    AC frequencies the largest step on whose multiples 90 % of the non-zero coefficients lie is
    that frequency's quantization step; the IJG quality whose luminance table is nearest those
    steps is the answer (``exact=False``: no table was read). Blocks with clipped pixels, whose
    coefficients the clipping moved, are left out.
    """
    from scipy.fft import dctn

    image = np.asarray(image)
    h, w = (min(n // 8 * 8, _CROP) for n in image.shape[:2])
    if h == 0 or w == 0:
        return None
    top = (image.shape[0] - h) // 16 * 8  # centred, on the block grid
    left = (image.shape[1] - w) // 16 * 8
    x = image[top : top + h, left : left + w].astype(np.float64) * 255.0
    if x.ndim == 2:
        x = x[..., None]
    unclipped = ~((x < 0.5) | (x > 254.5)).any(axis=-1, keepdims=True)
    keep = np.flatnonzero(_blocks(unclipped).all(axis=(1, 2, 3)))
    # JFIF's full-range luma, what the encoder quantized (io.rgb_to_y's studio range would
    # scale every step by 219/255)
    luma = x[..., :3] @ np.array([0.299, 0.587, 0.114]) if x.shape[-1] >= 3 else x[..., 0]
    coefficients = dctn(_blocks(luma[..., None])[keep, ..., 0] - 128.0, axes=(1, 2),
                        norm="ortho").reshape(-1, 64)
    steps: dict[int, int] = {}
    for k in _ZIGZAG[1 : _ESTIMATED_AC + 1]:
        v = coefficients[:, k]
        v = v[np.abs(v) > 2 * _TOLERANCE]  # out of the zero bin
        if v.size < 30:
            continue
        v = v[:: max(1, v.size // 2000)]  # plenty to tell a step; keeps the scan fast
        for step in range(255, _SMALLEST_STEP - 1, -1):
            if np.mean(np.abs(v - np.rint(v / step) * step) <= _TOLERANCE) >= 0.9:
                steps[int(k)] = step
                break
    if len(steps) < 3:
        return None
    at, found = np.array(list(steps)), np.array(list(steps.values()))
    best = int(np.argmin(np.abs(_TABLES[:, at] - found).sum(axis=1)))
    if np.mean(np.abs(_TABLES[best, at] - found) <= np.maximum(1, 0.05 * found)) < 0.8:
        return None  # steps no IJG table has: another encoder, or a mixed grid
    return JpegQuality(best + 1, exact=False)
