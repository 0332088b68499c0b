"""The quality a JPEG file was saved at, read from its quantization tables.

Almost every encoder (libjpeg and its descendants: Pillow, OpenCV, ImageMagick, GIMP, most
cameras' firmware) builds its tables by scaling the example tables of the JPEG standard
(ITU-T T.81, Annex K) with the IJG formula: scale = 5000 / q below quality 50, 200 - 2q above,
each entry (base * scale + 50) // 100 clamped to 1..255. Inverting it gives the quality exactly
for such files and the nearest IJG quality for others (``exact`` tells which). It tells a user
whether `--task jpeg` is worth running, without decoding a pixel.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["BLOCKING_QUALITY", "JpegQuality", "ijg_table", "quality_from_tables",
           "read_jpeg_quality", "STANDARD_LUMA"]

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
