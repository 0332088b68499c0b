"""Regressions for reader bugs the fuzzer found (see docs/benchmarks/fuzz.md)."""

from __future__ import annotations

import logging

import fuzz_targets as fz
import numpy as np
import pytest
import tifffile

from restorekit.errors import ImageReadError
from restorekit.io import read_image


@pytest.mark.parametrize("channels", [1, 3])  # gray: Pillow's "F" mode; RGB: tifffile
def test_float_tiff_nan_and_inf_become_finite(tmp_path, channels: int) -> None:
    """Found by read-tiff: NaN / inf samples came back as NaN pixels."""
    data = np.array([[np.nan, np.inf, -np.inf], [0.25, 2.0, -1.0]], np.float32)
    path = tmp_path / "f.tif"
    if channels == 1:
        tifffile.imwrite(path, data)
    else:
        tifffile.imwrite(path, np.stack([data] * 3, axis=-1), photometric="rgb")
    pixels, meta = read_image(path)
    assert meta.source_mode == ("F" if channels == 1 else "RGB;32F")
    assert pixels.dtype == np.float32 and np.isfinite(pixels).all()
    expected = np.array([[0.0, 1.0, 0.0], [0.25, 1.0, 0.0]], np.float32)
    np.testing.assert_array_equal(pixels, expected if channels == 1 else expected[..., None]
                                  .repeat(3, axis=-1))


def _corrupt_tiffs() -> list[bytes]:
    """Corrupt TIFFs that made Pillow warn and Pillow / tifffile log (found by cli-restore)."""
    seeds = dict(fz.seed_files("tiff"))
    rgba = seeds["rgba8 deflate"]
    samples = bytearray(seeds["rgb16 zlib"])
    fz.apply_mutation(samples, "tiff", ("colour", 1, 47001, b"x"))  # SamplesPerPixel 47001
    return [rgba[:9], rgba[:40], bytes(samples)]


@pytest.mark.parametrize("case", range(3))
def test_corrupt_tiff_is_one_error_and_nothing_else(tmp_path, capsys, case) -> None:
    path = tmp_path / "bad.tif"
    path.write_bytes(_corrupt_tiffs()[case])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any decoder warning that escapes fails the test
        with pytest.raises(ImageReadError) as err:
            read_image(path)
    assert "\n" not in str(err.value)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_decoder_logs_are_only_silenced_during_reads(tmp_path, caplog) -> None:
    path = tmp_path / "bad.tif"
    path.write_bytes(_corrupt_tiffs()[2])
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(ImageReadError):
            read_image(path)
        assert not [r for r in caplog.records if r.name.startswith(("PIL", "tifffile"))]
        logging.getLogger("tifffile").warning("outside a read")
        logging.getLogger("PIL.TiffImagePlugin").warning("outside a read too")
    assert [r.getMessage() for r in caplog.records] == ["outside a read", "outside a read too"]


def test_absurd_header_sizes_are_refused_before_decoding(tmp_path) -> None:
    """Headers claiming 2^31-1 pixels a side: the pixel limit, not an allocation."""
    for fmt in fz.FORMATS:
        data = bytearray(fz.seed_files(fmt)[0][1])
        for field in ("width", "height"):
            fz.apply_mutation(data, fmt, (field, 1, fz.ODD_SIZES.index(2**31 - 1), b"x"))
        path = tmp_path / f"big{fz.SUFFIX[fmt]}"
        path.write_bytes(bytes(data))
        with pytest.raises(ImageReadError) as err:
            read_image(path)
        assert "\n" not in str(err.value), fmt
