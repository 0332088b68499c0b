"""Fuzz ``read_image`` with corrupted PNG, JPEG, TIFF and BMP files (bounded example count).

Property (see ``benchmarks/fuzz.py``): a valid float32 image or one clean RestorekitError line;
never another exception, a hang or a bad array.
"""

from __future__ import annotations

import fuzz_targets as fz
import pytest

CASES = 120  # per format; benchmarks/fuzz.py runs 10,000

@pytest.mark.parametrize("fmt", fz.FORMATS)
def test_every_seed_file_reads(fmt: str, tmp_path) -> None:
    """The unmutated seeds decode: mutations start from real, varied files."""
    for _, data in fz.seed_files(fmt):
        assert fz.check_read(data, fmt, tmp_path) == "ok"


@pytest.mark.parametrize("fmt", fz.FORMATS)
def test_corrupted_files_read_or_fail_cleanly(fmt: str, tmp_path) -> None:
    result = fz.reader_target(fmt, CASES, seed=fz.FORMATS.index(fmt), folder=tmp_path,
                              collect=False)  # a failure is raised, shrunk, and reported
    assert result.cases == CASES
    # Not vacuous: some corrupted files still decode, most are refused cleanly.
    assert result.outcomes.get("ok", 0) >= 5 and result.outcomes.get("error", 0) >= CASES // 2


def test_mutations_change_what_they_claim() -> None:
    """The header edits reach the field they name (else the fuzzer would test nothing)."""
    import struct

    png = bytearray(fz.seed_files("png")[0][1])
    fz.apply_mutation(png, "png", ("width", 1, 9, b"x"))  # a % 3 != 0 -> ODD_SIZES[9]
    assert struct.unpack(">I", png[16:20])[0] == fz.ODD_SIZES[9]
    bmp = bytearray(fz.seed_files("bmp")[1][1])
    fz.apply_mutation(bmp, "bmp", ("depth", 0, 7, b"x"))
    assert struct.unpack("<H", bmp[28:30])[0] == 7
    jpeg = bytearray(fz.seed_files("jpeg")[0][1])
    fz.apply_mutation(jpeg, "jpeg", ("colour", 0, 5, b"x"))
    assert b"\xff\xc0" in jpeg and jpeg[jpeg.index(b"\xff\xc0") + 9] == 5
    assert len(fz.apply_mutation(bytearray(b"abcdef"), "png", ("truncate", 3, 0, b""))) == 3


def test_a_broken_property_is_reported(tmp_path) -> None:
    """The checker itself fails on a bad array (guards against a vacuous property)."""
    import numpy as np

    from restorekit.io import ImageMeta

    with pytest.raises(fz.FuzzFailure, match="NaN"):
        fz.check_image_result(np.full((2, 2), np.nan, np.float32), ImageMeta("PNG"), 100)
    with pytest.raises(fz.FuzzFailure, match="shape"):
        fz.check_image_result(np.zeros((2, 2, 4), np.float32), ImageMeta("PNG"), 100)
    with pytest.raises(fz.FuzzFailure, match="size"):
        fz.check_image_result(np.zeros((20, 20), np.float32), ImageMeta("PNG", color="gray"), 100)


def test_a_hang_is_caught() -> None:
    """The per-case CPU limit interrupts a busy loop (so a decoder loop would be reported)."""
    import time

    start = time.monotonic()
    with pytest.raises(fz.Hang):
        with fz.time_limit(0.2):
            while time.monotonic() - start < 30:
                pass
    assert time.monotonic() - start < 20
