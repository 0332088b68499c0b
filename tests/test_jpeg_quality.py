"""Reading a JPEG's quality from its quantization tables, or estimating it from its pixels."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restorekit.io import read_image
from restorekit.jpeg_quality import (
    STANDARD_LUMA,
    JpegQuality,
    estimate_quality,
    ijg_table,
    quality_from_tables,
    read_jpeg_quality,
)

PIXELS = (np.random.default_rng(0).random((24, 32, 3)) * 255).astype(np.uint8)


def _jpeg(mode: str = "RGB", **save: object) -> io.BytesIO:
    buf = io.BytesIO()
    Image.fromarray(PIXELS).convert(mode).save(buf, "JPEG", **save)
    buf.seek(0)
    return buf


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_every_libjpeg_quality_is_read_back_exactly(mode: str) -> None:
    for q in range(1, 101):
        assert read_jpeg_quality(_jpeg(mode, quality=q)) == JpegQuality(q, True), q


def test_the_ijg_formula() -> None:
    assert np.array_equal(ijg_table(STANDARD_LUMA, 50), STANDARD_LUMA)  # quality 50: the base
    assert ijg_table(STANDARD_LUMA, 100).tolist() == [1] * 64
    assert ijg_table(STANDARD_LUMA, 1).tolist() == [255] * 64  # baseline: at most 255
    assert ijg_table(STANDARD_LUMA, 25)[0] == (16 * 200 + 50) // 100
    with pytest.raises(ValueError):
        ijg_table(STANDARD_LUMA, 0)


def test_zigzag_order_and_foreign_tables() -> None:
    natural = ijg_table(STANDARD_LUMA, 30)
    zigzag = [int(natural[8 * i + j]) for i, j in sorted(
        ((i, j) for i in range(8) for j in range(8)),
        key=lambda ij: (ij[0] + ij[1], ij[0] if (ij[0] + ij[1]) % 2 else ij[1]))]
    assert zigzag != natural.tolist()
    assert quality_from_tables({0: zigzag}) == JpegQuality(30, True)
    custom = read_jpeg_quality(_jpeg(qtables=[[4] * 64]))  # flat table: no IJG quality
    assert custom is not None and not custom.exact and 90 <= custom.quality <= 99
    assert quality_from_tables({}) is None and quality_from_tables({0: [1, 2]}) is None


def test_read_image_carries_the_quality(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(_jpeg(quality=12).getvalue())
    Image.fromarray(PIXELS).save(tmp_path / "a.png")
    assert read_image(tmp_path / "a.jpg")[1].jpeg_quality == JpegQuality(12, True)
    assert read_image(tmp_path / "a.png")[1].jpeg_quality is None
    assert read_jpeg_quality(tmp_path / "a.png") is None


@pytest.mark.parametrize("channels", [1, 3])
def test_the_quality_is_estimated_from_a_decoded_jpegs_pixels(textured_image: np.ndarray,
                                                             channels: int) -> None:
    from restorekit.degrade.jpeg import jpeg_roundtrip

    image = textured_image[..., 0] if channels == 1 else textured_image  # colour: 4:2:0
    for quality in (10, 20, 30, 50, 75):
        found = estimate_quality(jpeg_roundtrip(image, quality))
        assert found is not None and abs(found.quality - quality) <= 1, (quality, found)
        assert not found.exact  # no table was read


def test_no_estimate_without_a_jpeg_history_on_its_grid(textured_image: np.ndarray) -> None:
    from restorekit.degrade.jpeg import jpeg_roundtrip

    decoded = jpeg_roundtrip(textured_image, 20)
    assert estimate_quality(decoded) is not None
    assert estimate_quality(textured_image) is None  # never compressed
    assert estimate_quality(decoded[3:, 5:]) is None  # cropped off the block grid
    noisy = decoded + np.random.default_rng(0).normal(0, 3 / 255, decoded.shape)
    assert estimate_quality(noisy.astype(np.float32)) is None  # noise after compression
    assert estimate_quality(decoded[:8, :8]) is None and estimate_quality(decoded[:4]) is None
