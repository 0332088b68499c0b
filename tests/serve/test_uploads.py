"""Upload handling: safe names, header checks before decoding, masks, encoding like the input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from restorekit.io import read_image, write_image
from restorekit.serve.errors import (
    BadRequest,
    PayloadTooLarge,
    UndecodableImage,
    UnsupportedImage,
)
from restorekit.serve.uploads import (
    UploadFolder,
    decode_image,
    decode_mask,
    display_name,
    download_name,
    encode_like,
    png_preview,
    probe_image,
)

ALL = ("PNG", "JPEG", "TIFF", "BMP", "WEBP")


@pytest.mark.parametrize("given,expected", [
    ("photo.png", "photo.png"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\me\\shot 1.JPG", "shot 1.JPG"),
    ('a"b;<c>.png', "a_b_c_.png"),
    ("", "image"),
    (None, "image"),
    ("..", "image"),
])
def test_display_name_is_a_safe_base_name(given: str | None, expected: str) -> None:
    assert display_name(given) == expected


def test_download_name_uses_the_result_format() -> None:
    assert download_name("shot.jpeg", "JPEG") == "shot_restored.jpg"
    assert download_name("../x.tiff", "TIFF") == "x_restored.tif"


def test_upload_folder_makes_private_dirs_and_cleans_up(tmp_path: Path) -> None:
    folder = UploadFolder(tmp_path)
    a, b = folder.new_job_dir(), folder.new_job_dir()
    assert a != b and a.parent == b.parent == folder.root and folder.root.parent == tmp_path
    (a / "input").write_bytes(b"x")
    folder.remove(a)
    assert not a.exists() and b.exists()
    folder.close()
    assert not folder.root.exists()
    with pytest.raises(RuntimeError):
        folder.new_job_dir()


def test_probe_reads_format_and_size(tmp_path: Path, rng: np.random.Generator) -> None:
    img = rng.random((20, 30)).astype(np.float32)
    for suffix, fmt in ((".png", "PNG"), (".jpg", "JPEG"), (".tif", "TIFF"), (".bmp", "BMP"),
                        (".webp", "WEBP")):
        p = write_image(tmp_path / f"a{suffix}", img)
        probe = probe_image(p, p.name, ALL, 10_000)
        assert (probe.format, probe.width, probe.height) == (fmt, 30, 20)


def test_probe_refuses_too_many_pixels_before_decoding(tmp_path: Path, helpers) -> None:
    bomb = helpers.png_header_only(tmp_path / "bomb", 50_000, 50_000)  # 2.5 gigapixels, ~1 KB
    assert bomb.stat().st_size < 2000
    with pytest.raises(PayloadTooLarge, match="decompression bomb"):
        probe_image(bomb, "bomb.png", ALL, 40_000_000)
    small = helpers.png_header_only(tmp_path / "small", 100, 100)
    with pytest.raises(PayloadTooLarge, match="10,000 pixels, over this server's limit of 5,000"):
        probe_image(small, "small.png", ALL, 5_000)


def test_probe_refuses_other_formats_and_garbage(tmp_path: Path) -> None:
    gif = tmp_path / "g"
    from PIL import Image

    Image.new("L", (8, 8)).save(gif, format="GIF")
    with pytest.raises(UnsupportedImage, match="GIF image; this server accepts PNG"):
        probe_image(gif, "g.gif", ALL, 10_000)
    png = write_image(tmp_path / "a.png", np.zeros((8, 8), np.float32))
    with pytest.raises(UnsupportedImage, match="accepts JPEG"):
        probe_image(png, "a.png", ("JPEG",), 10_000)
    junk = tmp_path / "junk"
    junk.write_bytes(b"this is not an image at all")
    with pytest.raises(UnsupportedImage, match="not a PNG, JPEG, TIFF, BMP or WebP"):
        probe_image(junk, "junk.png", ALL, 10_000)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(UnsupportedImage, match="empty"):
        probe_image(empty, "empty.png", ALL, 10_000)


def test_decode_errors_name_the_upload_not_the_server_path(tmp_path: Path) -> None:
    good = write_image(tmp_path / "a.png", np.random.default_rng(0).random((32, 32)))
    truncated = tmp_path / "input"
    truncated.write_bytes(good.read_bytes()[:60])
    with pytest.raises(UndecodableImage) as info:
        decode_image(truncated, "holiday.png", 10_000)
    assert "holiday.png" in str(info.value) and str(tmp_path) not in str(info.value)


def test_decode_mask(tmp_path: Path) -> None:
    m = np.zeros((16, 12), np.float32)
    m[4:8, 2:6] = 1.0
    p = write_image(tmp_path / "m.png", np.stack([m] * 3, axis=-1))
    mask = decode_mask(p, "m.png", 10_000, (16, 12))
    assert mask.dtype == bool and mask.sum() == 16 and mask[5, 3]
    with pytest.raises(BadRequest, match="12x16 but the image is 10x16"):
        decode_mask(p, "m.png", 10_000, (16, 10))
    blank = write_image(tmp_path / "b.png", np.zeros((16, 12), np.float32))
    with pytest.raises(BadRequest, match="marks no missing pixels"):
        decode_mask(blank, "b.png", 10_000, (16, 12))


@pytest.mark.parametrize("suffix,depth", [(".png", 16), (".tif", 16), (".png", 8),
                                          (".jpg", 8), (".bmp", 8), (".webp", 8)])
def test_encode_like_keeps_format_and_bit_depth(tmp_path: Path, suffix: str, depth: int,
                                                rgb_image: np.ndarray) -> None:
    kwargs = {"bit_depth": depth} if depth == 16 else {}
    src = write_image(tmp_path / f"src{suffix}", rgb_image, **kwargs)
    image, meta = read_image(src)
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    data = encode_like(image, meta, job_dir)
    assert list(job_dir.iterdir()) == []  # nothing left behind
    out_path = tmp_path / f"out{suffix}"
    out_path.write_bytes(data)
    out, out_meta = read_image(out_path)
    assert (out_meta.format, out_meta.bit_depth) == (meta.format, depth)
    tolerance = 0.05 if suffix == ".jpg" else 1e-4
    assert np.abs(out - image).max() < tolerance


def test_png_preview_is_8bit_and_capped(tmp_path: Path) -> None:
    import io

    from PIL import Image

    data = png_preview(np.full((10, 5000), 0.5, np.float32))
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG" and im.mode == "L" and max(im.size) == 4096


def test_the_page_file_picker_offers_every_supported_format() -> None:
    import re

    import restorekit.serve
    from restorekit.io import SUPPORTED_FORMATS
    from restorekit.serve.uploads import MEDIA_TYPE_BY_FORMAT, SUFFIX_BY_FORMAT

    page = Path(restorekit.serve.__file__).parent / "static" / "index.html"
    accept = re.search(r'id="file"[^>]*accept="([^"]*)"', page.read_text()).group(1).split(",")
    for fmt in SUPPORTED_FORMATS:
        assert MEDIA_TYPE_BY_FORMAT[fmt] in accept and SUFFIX_BY_FORMAT[fmt] in accept, fmt
