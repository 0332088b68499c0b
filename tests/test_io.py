"""Tests for restorekit.io: reading, writing, atomicity, errors, bit depths, colour conversion."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image, ImageCms, ImageOps

from restorekit import io as rio
from restorekit.errors import ImageReadError, ImageWriteError
from restorekit.io import (
    IMAGE_SUFFIXES,
    ImageMeta,
    is_image_file,
    read_image,
    rgb_to_y,
    rgb_to_ycbcr,
    to_float32,
    write_image,
    ycbcr_to_rgb,
)

FORMAT_CASES = [
    (".png", 8), (".png", 16), (".tif", 8), (".tif", 16), (".tiff", 16), (".bmp", 8),
]


def quantise(img: np.ndarray, depth: int) -> np.ndarray:
    maxv = 2**depth - 1
    return (np.rint(np.clip(img, 0, 1) * maxv) / maxv).astype(np.float32)


def random_image(rng: np.random.Generator, shape: tuple[int, ...], depth: int) -> np.ndarray:
    maxv = 2**depth - 1
    return (rng.integers(0, maxv + 1, shape) / maxv).astype(np.float32)


def png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def write_png16_interlaced(path: Path, samples: np.ndarray) -> None:
    """A minimal Adam7-interlaced 16-bit PNG writer (filter 0), independent of restorekit."""
    h, w, c = samples.shape
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
              (0, 1, 1, 2)]
    data = bytearray()
    for x0, y0, dx, dy in passes:
        sub = samples[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        for row in sub.astype(">u2"):
            data += b"\x00" + row.tobytes()
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, 1))
        + png_chunk(b"IDAT", zlib.compress(bytes(data)))
        + png_chunk(b"IEND", b"")
    )


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("color", ["gray", "rgb"])
@pytest.mark.parametrize(("suffix", "depth"), FORMAT_CASES)
def test_lossless_round_trip(tmp_path, gray_image, rgb_image, color, suffix, depth):
    img = quantise(gray_image if color == "gray" else rgb_image, depth)
    path = write_image(tmp_path / f"im{suffix}", img, bit_depth=depth)
    out, meta = read_image(path)
    assert out.dtype == np.float32 and out.shape == img.shape
    np.testing.assert_array_equal(out, img)
    assert meta.bit_depth == depth
    assert meta.color == color and meta.channels == (1 if color == "gray" else 3)
    assert meta.format == {".png": "PNG", ".bmp": "BMP"}.get(suffix, "TIFF")
    assert meta.alpha is None and meta.path == path


@pytest.mark.parametrize("color", ["gray", "rgb"])
@pytest.mark.parametrize("suffix", [".jpg", ".jpeg"])
def test_jpeg_round_trip_is_close(tmp_path, gray_image, rgb_image, color, suffix):
    img = gray_image if color == "gray" else rgb_image
    out, meta = read_image(write_image(tmp_path / f"im{suffix}", img))
    assert out.shape == img.shape and out.dtype == np.float32
    assert np.abs(out - img).mean() < 0.01
    assert meta.format == "JPEG" and meta.bit_depth == 8 and meta.color == color


@pytest.mark.parametrize("color", ["gray", "rgb"])
def test_webp_is_lossless_by_default_and_keeps_alpha(tmp_path, gray_image, rgb_image, color):
    """WebP has no gray mode: a gray image comes back as RGB with three equal channels."""
    img = quantise(gray_image if color == "gray" else rgb_image, 8)
    alpha = quantise(np.random.default_rng(1).random(img.shape[:2]), 8)
    meta = ImageMeta(format="PNG", bit_depth=8, color=color, alpha=alpha)
    out, out_meta = read_image(write_image(tmp_path / "im.webp", img, meta))
    rgb = img if color == "rgb" else np.repeat(img[..., None], 3, axis=2)
    np.testing.assert_array_equal(out, rgb)
    np.testing.assert_array_equal(out_meta.alpha, alpha)
    assert out_meta.format == "WEBP" and out_meta.bit_depth == 8


def test_webp_with_a_quality_is_lossy_and_smaller(tmp_path, rgb_image):
    lossless = write_image(tmp_path / "a.webp", rgb_image)
    lossy = write_image(tmp_path / "b.webp", rgb_image, quality=40)
    out, _ = read_image(lossy)
    assert lossy.stat().st_size < lossless.stat().st_size
    assert 0 < np.abs(out - rgb_image).mean() < 0.05
    with pytest.raises(ImageWriteError, match="quality must be in 1..100"):
        write_image(tmp_path / "c.webp", rgb_image, quality=0)


def test_animated_webp_gives_its_first_frame(tmp_path, rgb_image):
    frames = [Image.fromarray(np.rint(f * 255).astype(np.uint8)) for f in (rgb_image,
                                                                           1 - rgb_image)]
    frames[0].save(tmp_path / "anim.webp", save_all=True, append_images=frames[1:],
                   lossless=True)
    out, _ = read_image(tmp_path / "anim.webp")
    np.testing.assert_array_equal(out, quantise(rgb_image, 8))


def test_values_are_clipped_and_rounded_not_truncated(tmp_path):
    img = np.array([[-0.2, 0.6 / 255, 0.4 / 255, 1.3, 254.6 / 255]], dtype=np.float32)
    out, _ = read_image(write_image(tmp_path / "r.png", img))
    np.testing.assert_array_equal(np.rint(out * 255), [[0, 1, 0, 255, 255]])


def test_hxwx1_is_written_as_gray(tmp_path, gray_image):
    out, meta = read_image(write_image(tmp_path / "g.png", gray_image[..., None]))
    assert out.shape == gray_image.shape and meta.color == "gray"


def test_integer_input_is_scaled_like_to_float32(tmp_path):
    img = np.array([[0, 1000, 65535]], dtype=np.uint16)
    out, meta = read_image(write_image(tmp_path / "u.png", img, bit_depth=16))
    np.testing.assert_array_equal(np.rint(out * 65535), img)


def test_bit_depth_defaults_to_meta_then_8(tmp_path, rgb_image):
    src = write_image(tmp_path / "src.png", rgb_image, bit_depth=16)
    img, meta = read_image(src)
    assert meta.bit_depth == 16
    out = write_image(tmp_path / "copy.tif", img, meta)
    assert read_image(out)[1].bit_depth == 16
    assert read_image(write_image(tmp_path / "plain.png", img))[1].bit_depth == 8
    assert read_image(write_image(tmp_path / "down.png", img, meta, bit_depth=8))[1].bit_depth == 8


def test_16_bit_for_jpeg_or_bmp(tmp_path, rgb_image):
    """Explicit 16 for an 8-bit-only format is an error; 16 inherited from meta falls back to 8."""
    for suffix in (".jpg", ".bmp", ".webp"):
        with pytest.raises(ImageWriteError, match="8-bit only"):
            write_image(tmp_path / f"x{suffix}", rgb_image, bit_depth=16)
        assert not (tmp_path / f"x{suffix}").exists()
        meta = ImageMeta(format="PNG", bit_depth=16, color="rgb")
        _, out_meta = read_image(write_image(tmp_path / f"x{suffix}", rgb_image, meta))
        assert out_meta.bit_depth == 8


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_rgb_keeps_full_precision(tmp_path, suffix):
    """Neighbouring values 1/65535 apart survive (Pillow alone would cut them to 8 bits)."""
    base = np.arange(30000, 30000 + 3 * 8 * 8, dtype=np.float64).reshape(8, 8, 3)
    img = (base / 65535).astype(np.float32)
    out, meta = read_image(write_image(tmp_path / f"fine{suffix}", img, bit_depth=16))
    np.testing.assert_array_equal(np.rint(out * 65535), base)
    assert meta.bit_depth == 16 and meta.color == "rgb"
    assert len(np.unique(out)) == base.size


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_reads_interlaced_16_bit_png(tmp_path, rng, channels):
    samples = rng.integers(0, 65536, (13, 11, channels)).astype(np.uint16)
    path = tmp_path / "adam7.png"
    write_png16_interlaced(path, samples)
    out, meta = read_image(path)
    colour = samples[..., 0] if channels in (1, 2) else samples[..., :3]
    np.testing.assert_array_equal(np.rint(out * 65535), colour)
    if channels in (2, 4):
        np.testing.assert_array_equal(np.rint(meta.alpha * 65535), samples[..., -1])
    else:
        assert meta.alpha is None
    assert meta.bit_depth == 16


def _png_filter_types(path: Path) -> set[int]:
    data = path.read_bytes()
    pos, idat, width, height, bpp = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,), tag = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if tag == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
            bpp = {0: 1, 2: 3, 4: 2, 6: 4}[ctype] * depth // 8
        elif tag == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + width * bpp
    return {raw[y * stride] for y in range(height)}


def test_png16_encoder_filters_decode_exactly(tmp_path, rng):
    """Rows of noise, flat colour, repeats and ramps make the encoder use several PNG filters."""
    w = 40
    ramp = np.linspace(0, 1, w * 3).reshape(w, 3)
    rows = [random_image(rng, (w, 3), 16), np.full((w, 3), 0.3), np.full((w, 3), 0.3), ramp,
            ramp[::-1], random_image(rng, (w, 3), 16) * 0.01 + ramp * 0.5]
    img = quantise(np.stack(rows * 3).astype(np.float32), 16)
    path = write_image(tmp_path / "filters.png", img, bit_depth=16)
    assert len(_png_filter_types(path)) >= 3
    np.testing.assert_array_equal(read_image(path)[0], img)


def test_large_16_bit_png_spans_several_blocks_and_chunks(tmp_path, rng):
    img = random_image(rng, (300, 600, 3), 16)  # > 1 MiB of IDAT: several blocks and chunks
    out, _ = read_image(write_image(tmp_path / "big.png", img, bit_depth=16))
    np.testing.assert_array_equal(out, img)


# ---------------------------------------------------------------- alpha, palette, 1-bit


@pytest.mark.parametrize(("suffix", "depth"), [(".png", 8), (".png", 16), (".tif", 8),
                                               (".tif", 16)])
@pytest.mark.parametrize("color", ["gray", "rgb"])
def test_alpha_is_separated_and_carried_through(tmp_path, rng, suffix, depth, color):
    shape = (9, 7) if color == "gray" else (9, 7, 3)
    img, alpha = random_image(rng, shape, depth), random_image(rng, (9, 7), depth)
    src = write_image(tmp_path / f"a{suffix}", img, ImageMeta("PNG", depth, color, alpha=alpha))
    out, meta = read_image(src)
    assert out.shape == shape
    np.testing.assert_array_equal(out, img)
    assert meta.alpha is not None and meta.alpha.dtype == np.float32
    np.testing.assert_array_equal(meta.alpha, alpha)
    again, meta2 = read_image(write_image(tmp_path / f"b{suffix}", out, meta))
    np.testing.assert_array_equal(meta2.alpha, alpha)
    np.testing.assert_array_equal(again, img)


def test_alpha_from_pillow_rgba_and_la_png(tmp_path, rng):
    rgba = rng.integers(0, 256, (5, 6, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    out, meta = read_image(tmp_path / "rgba.png")
    np.testing.assert_array_equal(np.rint(out * 255), rgba[..., :3])  # not premultiplied
    np.testing.assert_array_equal(np.rint(meta.alpha * 255), rgba[..., 3])
    la = rgba[..., :2].copy()
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    out, meta = read_image(tmp_path / "la.png")
    assert out.shape == (5, 6) and meta.color == "gray"
    np.testing.assert_array_equal(np.rint(meta.alpha * 255), la[..., 1])


@pytest.mark.parametrize("suffix", [".jpg", ".bmp"])
def test_alpha_dropped_without_error_for_jpeg_and_bmp(tmp_path, rgb_image, suffix):
    meta = ImageMeta("PNG", 8, "rgb", alpha=np.ones(rgb_image.shape[:2], np.float32))
    out, out_meta = read_image(write_image(tmp_path / f"x{suffix}", rgb_image, meta))
    assert out.shape == rgb_image.shape and out_meta.alpha is None


def test_alpha_is_resized_when_the_image_size_changed(tmp_path, rng):
    alpha = np.zeros((4, 4), np.float32)
    alpha[:, 2:] = 1.0
    big = random_image(rng, (8, 8, 3), 8)
    _, meta = read_image(write_image(tmp_path / "sr.png", big, ImageMeta("PNG", alpha=alpha)))
    assert meta.alpha.shape == (8, 8)
    assert meta.alpha[:, 0].max() == 0 and meta.alpha[:, -1].min() == 1


def test_palette_image_reads_as_rgb(tmp_path, rng):
    idx = rng.integers(0, 4, (6, 5), dtype=np.uint8)
    pal = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]
    im = Image.fromarray(idx, "P")
    im.putpalette(pal + [0] * (768 - len(pal)))
    im.save(tmp_path / "p.png")
    out, meta = read_image(tmp_path / "p.png")
    expected = np.asarray(im.convert("RGB"))
    assert out.shape == (6, 5, 3) and meta.color == "rgb" and meta.source_mode == "P"
    np.testing.assert_array_equal(np.rint(out * 255), expected)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif"])
def test_gray_palette_reads_as_gray(tmp_path, rng, suffix):
    idx = rng.integers(0, 3, (6, 5), dtype=np.uint8)
    im = Image.fromarray(idx, "P")
    im.putpalette([0, 0, 0, 100, 100, 100, 250, 250, 250] + [0] * 759)
    im.save(tmp_path / f"gp{suffix}")
    out, meta = read_image(tmp_path / f"gp{suffix}")
    assert out.shape == (6, 5) and meta.color == "gray"
    np.testing.assert_array_equal(np.rint(out * 255), np.array([0, 100, 250])[idx])


def test_palette_transparency_becomes_alpha(tmp_path):
    idx = np.array([[0, 1], [1, 0]], np.uint8)
    im = Image.fromarray(idx, "P")
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    im.save(tmp_path / "pt.png", transparency=1)
    out, meta = read_image(tmp_path / "pt.png")
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(meta.alpha, [[1, 0], [0, 1]])


def test_one_bit_image_reads_as_gray(tmp_path):
    bits = np.array([[0, 1, 1], [1, 0, 0]], bool)
    Image.fromarray(bits).save(tmp_path / "b.png")
    Image.fromarray(bits).save(tmp_path / "b.bmp")
    for name in ("b.png", "b.bmp"):
        out, meta = read_image(tmp_path / name)
        assert out.dtype == np.float32 and meta.color == "gray" and meta.bit_depth == 8
        np.testing.assert_array_equal(out, bits.astype(np.float32))


def test_tiff_variants_via_tifffile(tmp_path, rng):
    tifffile = pytest.importorskip("tifffile")
    rgb = rng.integers(0, 65536, (5, 4, 3), dtype=np.uint16)
    path = tmp_path / "planar.tif"
    tifffile.imwrite(path, np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate",
                     byteorder=">")
    out, meta = read_image(path)
    np.testing.assert_array_equal(np.rint(out * 65535), rgb)
    assert meta.bit_depth == 16
    white = rng.integers(0, 256, (5, 4), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "mw.tif", white, photometric="miniswhite")
    out, _ = read_image(tmp_path / "mw.tif")
    np.testing.assert_allclose(out, 1 - white / 255, atol=1e-6)
    floats = np.array([[-0.5, 0.25], [0.75, 2.0]], np.float32)
    tifffile.imwrite(tmp_path / "f.tif", floats)
    out, meta = read_image(tmp_path / "f.tif")
    np.testing.assert_array_equal(out, [[0, 0.25], [0.75, 1]])
    assert meta.bit_depth == 16


def test_lzw_tiff_and_cmyk_via_pillow(tmp_path, rng):
    gray16 = rng.integers(0, 65536, (6, 5)).astype(np.uint16)
    Image.fromarray(gray16).save(tmp_path / "g.tif", compression="tiff_lzw")
    out, meta = read_image(tmp_path / "g.tif")
    np.testing.assert_array_equal(np.rint(out * 65535), gray16)
    assert meta.bit_depth == 16 and meta.color == "gray"
    cmyk = Image.fromarray(rng.integers(0, 256, (6, 5, 4), dtype=np.uint8), "CMYK")
    fake_cmyk_icc = b"\0" * 16 + b"CMYK" + b"\0" * 108
    cmyk.save(tmp_path / "c.jpg", icc_profile=fake_cmyk_icc)
    out, meta = read_image(tmp_path / "c.jpg")
    assert out.shape == (6, 5, 3) and meta.color == "rgb" and meta.source_mode == "CMYK"
    assert meta.icc_profile is None  # a CMYK profile does not describe the RGB pixels


# ---------------------------------------------------------------- orientation, ICC


def test_jpeg_exif_orientation_is_honoured(tmp_path, rgb_image):
    raw = (rgb_image * 255).round().astype(np.uint8)  # 64x48
    exif = Image.Exif()
    exif[274] = 6
    Image.fromarray(raw).save(tmp_path / "o.jpg", quality=98, exif=exif)
    out, meta = read_image(tmp_path / "o.jpg")
    assert out.shape == (48, 64, 3) and meta.exif_orientation == 6
    upright = np.rot90(raw, -1) / 255.0  # orientation 6: rotate 90 degrees clockwise
    assert np.abs(out - upright).mean() < 0.01


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pillow(tmp_path, rng, orientation):
    raw = rng.integers(0, 256, (5, 3, 4), dtype=np.uint8)
    exif = Image.Exif()
    exif[274] = orientation
    Image.fromarray(raw, "RGBA").save(tmp_path / "o.png", exif=exif)
    out, meta = read_image(tmp_path / "o.png")
    with Image.open(tmp_path / "o.png") as im:
        expected = np.asarray(ImageOps.exif_transpose(im))
    np.testing.assert_array_equal(np.rint(out * 255), expected[..., :3])
    np.testing.assert_array_equal(np.rint(meta.alpha * 255), expected[..., 3])


def test_icc_profile_is_carried_when_it_matches(tmp_path, rgb_image, gray_image):
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    raw = (rgb_image * 255).round().astype(np.uint8)
    Image.fromarray(raw).save(tmp_path / "icc.png", icc_profile=srgb)
    img, meta = read_image(tmp_path / "icc.png")
    assert meta.icc_profile == srgb
    for name in ("o.png", "o.jpg", "o.tif", "o16.png"):
        out = write_image(tmp_path / name, img, meta, bit_depth=16 if "16" in name else None)
        assert read_image(out)[1].icc_profile == srgb, name
    gray_out = write_image(tmp_path / "gray.png", gray_image, meta)  # RGB profile, gray pixels
    assert read_image(gray_out)[1].icc_profile is None


# ---------------------------------------------------------------- atomic writes


def test_refuses_to_overwrite_without_flag(tmp_path, gray_image):
    path = write_image(tmp_path / "x.png", gray_image)
    before = path.read_bytes()
    with pytest.raises(ImageWriteError, match="x.png") as err:
        write_image(path, 1 - gray_image)
    assert "overwrite=True" in str(err.value)
    assert path.read_bytes() == before
    write_image(path, 1 - gray_image, overwrite=True)
    np.testing.assert_allclose(read_image(path)[0], quantise(1 - gray_image, 8))
    assert sorted(os.listdir(tmp_path)) == ["x.png"]


def test_written_file_has_normal_permissions(tmp_path, gray_image):
    mode = write_image(tmp_path / "perm.png", gray_image).stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


@pytest.mark.parametrize("error", [OSError("disk full"), ValueError("bad encoder state")])
def test_encoder_failure_leaves_nothing_behind(tmp_path, gray_image, monkeypatch, error):
    def fail(self, *args, **kwargs):
        raise error

    monkeypatch.setattr(Image.Image, "save", fail)
    with pytest.raises(ImageWriteError, match="out.png"):
        write_image(tmp_path / "out.png", gray_image)
    assert os.listdir(tmp_path) == []


def test_unexpected_failure_propagates_and_cleans_up(tmp_path, gray_image, monkeypatch):
    existing = write_image(tmp_path / "keep.png", gray_image)
    before = existing.read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(rio, "_encode_png16", boom)
    with pytest.raises(RuntimeError):
        write_image(existing, gray_image, bit_depth=16, overwrite=True)
    assert os.listdir(tmp_path) == ["keep.png"] and existing.read_bytes() == before


def test_failure_after_encoding_removes_temp(tmp_path, gray_image, monkeypatch):
    def no_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(rio.os, "fsync", no_fsync)
    with pytest.raises(ImageWriteError, match="Input/output error"):
        write_image(tmp_path / "io.png", gray_image)
    assert os.listdir(tmp_path) == []


def test_missing_or_bad_folder(tmp_path, gray_image):
    with pytest.raises(ImageWriteError, match="does not exist"):
        write_image(tmp_path / "nope" / "x.png", gray_image)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ImageWriteError, match="not a folder"):
        write_image(tmp_path / "file" / "x.png", gray_image)
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ImageWriteError, match="folder"):
        write_image(tmp_path / "dir.png", gray_image, overwrite=True)


def test_unwritable_folder(tmp_path, gray_image, monkeypatch):
    import builtins

    real_open = builtins.open

    def denied(file, mode="r", *args, **kwargs):
        if "x" in mode:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", denied)
    with pytest.raises(ImageWriteError, match="not writable") as err:
        write_image(tmp_path / "x.png", gray_image)
    assert "\n" not in str(err.value)
    monkeypatch.undo()
    if os.geteuid() != 0:  # root ignores permission bits
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(ImageWriteError, match="not writable"):
            write_image(locked / "x.png", gray_image)


@pytest.mark.parametrize(
    ("image", "kwargs", "match"),
    [
        (np.zeros((4, 4, 4)), {}, "shape"),
        (np.zeros(5), {}, "shape"),
        (np.zeros((0, 4)), {}, "empty"),
        (np.full((2, 2), np.nan), {}, "NaN"),
        (np.zeros((2, 2)), {"bit_depth": 12}, "8 or 16"),
        (np.zeros((2, 2)), {"quality": 0}, "quality"),
        (np.zeros((2, 2)), {"subsampling": "4:1:1"}, "subsampling"),
    ],
)
def test_invalid_write_arguments(tmp_path, image, kwargs, match):
    with pytest.raises(ImageWriteError, match=match):
        write_image(tmp_path / "bad.png", image, **kwargs)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(("subsampling", "code"), [("4:4:4", 0), ("4:2:2", 1), ("4:2:0", 2)])
def test_jpeg_chroma_subsampling_is_written(tmp_path, rgb_image, subsampling, code):
    from PIL import JpegImagePlugin

    path = write_image(tmp_path / "x.jpg", rgb_image, quality=30, subsampling=subsampling)
    with Image.open(path) as im:
        assert JpegImagePlugin.get_sampling(im) == code


def test_unsupported_output_suffix(tmp_path, gray_image):
    with pytest.raises(ImageWriteError, match=r"\.gif"):
        write_image(tmp_path / "x.gif", gray_image)


# ---------------------------------------------------------------- read errors


def _truncated_png(tmp_path: Path, rgb_image: np.ndarray) -> Path:
    good = write_image(tmp_path / "good.png", rgb_image)
    data = good.read_bytes()
    bad = tmp_path / "truncated.png"
    bad.write_bytes(data[: len(data) // 2])
    return bad


def _truncated_jpeg(tmp_path: Path, rgb_image: np.ndarray) -> Path:
    good = write_image(tmp_path / "good.jpg", rgb_image)
    bad = tmp_path / "truncated.jpg"
    bad.write_bytes(good.read_bytes()[:400])
    return bad


def _text_as_png(tmp_path: Path, _: np.ndarray) -> Path:
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\n")
    return path


def _gif(tmp_path: Path, rgb_image: np.ndarray) -> Path:
    path = tmp_path / "anim.gif"
    Image.fromarray((rgb_image * 255).astype(np.uint8)).save(path)
    return path


def _corrupt_idat(tmp_path: Path, rgb_image: np.ndarray) -> Path:
    data = bytearray(write_image(tmp_path / "good.png", rgb_image).read_bytes())
    data[60:80] = b"\x00" * 20  # inside IDAT: CRC / zlib error
    path = tmp_path / "corrupt.png"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda d, _: d / "missing.png", "not found"),
        (lambda d, _: (d / "empty.png").touch() or d / "empty.png", "empty"),
        (lambda d, _: (d / "folder.png").mkdir() or d / "folder.png", "folder"),
        (_truncated_png, "truncated"),
        (_truncated_jpeg, "truncated"),
        (_text_as_png, "not a PNG, JPEG, TIFF, BMP or WebP"),
        (_gif, "unsupported format GIF"),
        (_corrupt_idat, "corrupt"),
    ],
)
def test_read_errors_are_one_clear_line(tmp_path, rgb_image, make, reason):
    path = make(tmp_path, rgb_image)
    with pytest.raises(ImageReadError) as err:
        read_image(path)
    message = str(err.value)
    assert path.name in message and reason in message
    assert "\n" not in message and type(err.value) is ImageReadError


def test_pixel_limit(tmp_path, gray_image, monkeypatch):
    path = write_image(tmp_path / "x.png", gray_image)  # 64x48 = 3072 pixels
    with pytest.raises(ImageReadError, match="3072 pixels exceeds the limit of 1000"):
        read_image(path, max_pixels=1000)
    monkeypatch.setattr(rio, "MAX_PIXELS", 3000)
    with pytest.raises(ImageReadError, match="x.png"):
        read_image(path)
    assert read_image(path, max_pixels=None)[0].shape == (64, 48)
    assert read_image(path, max_pixels=3072)[0].shape == (64, 48)


def test_pixel_limit_refuses_a_bomb_header_before_decoding(tmp_path):
    """A few hundred bytes claiming 30000x30000 pixels: refused by our limit, not by Pillow's."""
    row_count = 30000
    path = tmp_path / "bomb.png"
    idat = zlib.compress(b"\x00" * 1000)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", row_count, row_count, 8, 0, 0, 0, 0))
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )
    with pytest.raises(ImageReadError, match="900000000 pixels exceeds the limit of 100000000"):
        read_image(path)


def test_our_limit_replaces_pillows(tmp_path, gray_image, monkeypatch):
    path = write_image(tmp_path / "x.png", gray_image)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow alone would refuse 3072 px
    assert read_image(path)[0].shape == (64, 48)
    assert Image.MAX_IMAGE_PIXELS == 1000


# ---------------------------------------------------------------- to_float32


def test_to_float32_dtypes():
    np.testing.assert_array_equal(to_float32(np.array([0, 128, 255], np.uint8)),
                                  np.array([0, 128, 255], np.float32) / np.float32(255))
    np.testing.assert_array_equal(to_float32(np.array([0, 65535], np.uint16)), [0, 1])
    np.testing.assert_array_equal(to_float32(np.array([True, False])), [1, 0])
    np.testing.assert_array_equal(to_float32(np.array([-128, 0, 127], np.int8)), [0, 0, 1])
    np.testing.assert_allclose(to_float32(np.array([2**31 - 1], np.int32)), [1])
    half = to_float32(np.array([0.25, 1.5, -1], np.float16))
    assert half.dtype == np.float32
    np.testing.assert_array_equal(half, [0.25, 1, 0])
    np.testing.assert_array_equal(to_float32(np.array([1e300, -np.inf, np.inf])), [1, 0, 1])
    src = np.array([0.3], np.float32)
    out = to_float32(src)
    assert out is not src and out.dtype == np.float32 and out[0] == np.float32(0.3)
    assert to_float32([[0.5]]).dtype == np.float32
    with pytest.raises(TypeError):
        to_float32(np.array(["a"]))


def test_to_float32_matches_skimage_for_unsigned():
    from skimage import img_as_float

    for dtype in (np.uint8, np.uint16):
        values = np.arange(0, np.iinfo(dtype).max + 1, 7, dtype=dtype)
        np.testing.assert_allclose(to_float32(values), img_as_float(values), rtol=1e-7)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # e.g. overflow casting 1e300 to float32
@settings(max_examples=50, deadline=None)
@given(
    hnp.arrays(
        dtype=st.sampled_from([np.uint8, np.uint16, np.int16, np.bool_, np.float16, np.float32,
                               np.float64, np.int64]),
        shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
        elements={"allow_nan": False},
    )
)
def test_to_float32_property(arr):
    out = to_float32(arr)
    assert out.dtype == np.float32 and out.shape == arr.shape
    assert np.all((out >= 0) & (out <= 1))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    arr=hnp.arrays(
        dtype=st.sampled_from([np.uint8, np.uint16]),
        shape=st.tuples(st.integers(1, 9), st.integers(1, 9)).flatmap(
            lambda hw: st.sampled_from([hw, (*hw, 3)])
        ),
    )
)
def test_png_round_trip_property(tmp_path_factory, arr):
    depth = 8 * arr.dtype.itemsize
    path = tmp_path_factory.mktemp("prop") / "p.png"
    out, meta = read_image(write_image(path, arr, bit_depth=depth))
    assert meta.bit_depth == depth
    np.testing.assert_array_equal(np.rint(out * (2**depth - 1)).astype(arr.dtype), arr)


# ---------------------------------------------------------------- colour


def test_ycbcr_reference_values():
    white, black = np.ones((1, 1, 3), np.float32), np.zeros((1, 1, 3), np.float32)
    np.testing.assert_allclose(rgb_to_ycbcr(white)[0, 0], [235 / 255, 128 / 255, 128 / 255],
                               atol=1e-6)
    np.testing.assert_allclose(rgb_to_ycbcr(black)[0, 0], [16 / 255, 128 / 255, 128 / 255],
                               atol=1e-6)
    red = np.array([[[1.0, 0.0, 0.0]]])
    np.testing.assert_allclose(rgb_to_ycbcr(red)[0, 0],
                               [(16 + 65.481) / 255, (128 - 37.797) / 255, (128 + 112) / 255])
    np.testing.assert_allclose(rgb_to_y(white), [[235 / 255]], atol=1e-6)
    np.testing.assert_allclose(rgb_to_y(black), [[16 / 255]], atol=1e-6)


def test_ycbcr_matches_skimage_and_round_trips(rgb_image, rng):
    from skimage.color import rgb2ycbcr

    ycc = rgb_to_ycbcr(rgb_image)
    assert ycc.dtype == np.float32 and ycc.shape == rgb_image.shape
    np.testing.assert_allclose(ycc, rgb2ycbcr(rgb_image) / 255, atol=1e-4)
    np.testing.assert_allclose(rgb_to_y(rgb_image), ycc[..., 0], atol=1e-6)
    rand = rng.random((2, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(ycbcr_to_rgb(rgb_to_ycbcr(rand)), rand, atol=2e-6)
    r64 = rng.random((8, 8, 3))
    assert rgb_to_ycbcr(r64).dtype == np.float64
    np.testing.assert_allclose(ycbcr_to_rgb(rgb_to_ycbcr(r64)), r64, atol=1e-12)
    with pytest.raises(ValueError):
        rgb_to_ycbcr(np.zeros((4, 4)))


def test_ycbcr_on_torch_tensors(rgb_image):
    torch = pytest.importorskip("torch")
    batch = np.stack([rgb_image, rgb_image[::-1]])  # N x H x W x 3
    t = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))
    ycc = rgb_to_ycbcr(t)
    assert isinstance(ycc, torch.Tensor) and ycc.shape == t.shape and ycc.dtype == torch.float32
    np.testing.assert_allclose(ycc.numpy().transpose(0, 2, 3, 1), rgb_to_ycbcr(batch), atol=1e-6)
    np.testing.assert_allclose(ycbcr_to_rgb(ycc).numpy(), t.numpy(), atol=2e-6)
    y = rgb_to_y(t)
    assert y.shape == (2, 1, *rgb_image.shape[:2])
    np.testing.assert_allclose(y[:, 0].numpy(), rgb_to_y(batch), atol=1e-6)


def test_import_does_not_pull_in_torch_or_tifffile():
    code = "import sys, restorekit.io; print('torch' in sys.modules, 'tifffile' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# ---------------------------------------------------------------- helpers


def test_is_image_file_and_suffixes():
    assert set(IMAGE_SUFFIXES) == {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}
    for name in ("a.png", "b.JPG", "c.jpeg", "d.TIF", "e.tiff", "f.bmp", "dir/g.Png"):
        assert is_image_file(name)
    for name in ("a.gif", "b.txt", "png", "._a.png", ".x.png.1234.tmp.png", "noext"):
        assert not is_image_file(name)
    assert is_image_file(Path("x") / "y.png")
