"""The reading pixel limit (argument, RESTOREKIT_MAX_PIXELS, MAX_PIXELS; 0 = none), checked from
the header before decoding; and temporary files of killed writers being cleaned up."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

import restorekit.io as rio
from restorekit.atomic import HOST_TAG
from restorekit.errors import ImageReadError
from restorekit.io import default_max_pixels, read_image, write_image

ENV = "RESTOREKIT_MAX_PIXELS"


@pytest.fixture
def image_file(tmp_path):
    """A 64x48 gray PNG (3072 pixels)."""
    return write_image(tmp_path / "x.png", np.full((64, 48), 0.5, np.float32))


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)


def test_default_is_the_module_constant(monkeypatch) -> None:
    assert default_max_pixels() == rio.MAX_PIXELS
    monkeypatch.setattr(rio, "MAX_PIXELS", 0)
    assert default_max_pixels() is None


def test_environment_sets_the_default(monkeypatch, image_file) -> None:
    monkeypatch.setenv(ENV, "3071")
    assert default_max_pixels() == 3071
    with pytest.raises(ImageReadError) as err:
        read_image(image_file)
    message = str(err.value)
    assert "3072 pixels exceeds the limit of 3071" in message and "x.png" in message
    # The message says how to lift the limit, on one line.
    assert "--max-pixels" in message and ENV in message and "max_pixels=" in message
    assert "\n" not in message
    monkeypatch.setenv(ENV, "3_072")
    assert read_image(image_file)[0].shape == (64, 48)  # exactly at the limit is allowed


def test_zero_means_no_limit(monkeypatch, image_file) -> None:
    monkeypatch.setattr(rio, "MAX_PIXELS", 10)
    with pytest.raises(ImageReadError):
        read_image(image_file)
    monkeypatch.setenv(ENV, "0")
    assert default_max_pixels() is None
    assert read_image(image_file)[0].shape == (64, 48)
    monkeypatch.delenv(ENV)
    assert read_image(image_file, max_pixels=0)[0].shape == (64, 48)
    assert read_image(image_file, max_pixels=None)[0].shape == (64, 48)


def test_argument_beats_environment(monkeypatch, image_file) -> None:
    monkeypatch.setenv(ENV, "10")
    assert read_image(image_file, max_pixels=5000)[0].shape == (64, 48)
    monkeypatch.setenv(ENV, "0")
    with pytest.raises(ImageReadError, match="limit of 100"):
        read_image(image_file, max_pixels=100)


@pytest.mark.parametrize("value", ["lots", "-5", "1.5e6", "0x10"])
def test_a_bad_environment_value_is_one_clear_error(monkeypatch, image_file, value) -> None:
    monkeypatch.setenv(ENV, value)
    with pytest.raises(ImageReadError) as err:
        read_image(image_file)
    assert ENV in str(err.value) and repr(value) in str(err.value)
    assert "integer >= 0" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("value", [-1, 1.5, "100", True])
def test_a_bad_argument_is_a_programming_error(image_file, value) -> None:
    with pytest.raises(ValueError, match="max_pixels"):
        read_image(image_file, max_pixels=value)


def _bomb_png(path, side: int) -> None:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b""))


def test_limit_is_checked_from_the_header(monkeypatch, tmp_path) -> None:
    """A 200-byte file claiming 50000x50000 pixels is refused by the limit, not by a decoder."""
    _bomb_png(tmp_path / "bomb.png", 50000)
    monkeypatch.setenv(ENV, "1000000")
    with pytest.raises(ImageReadError, match="2500000000 pixels exceeds the limit of 1000000"):
        read_image(tmp_path / "bomb.png")


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tif", "16.tif"])
def test_no_decoding_happens_above_the_limit(monkeypatch, tmp_path, suffix) -> None:
    """Pillow's and tifffile's decoders are never called for an image above the limit."""
    import tifffile
    from PIL import ImageFile

    path = tmp_path / f"x{suffix}"
    if suffix == "16.tif":  # 16-bit RGB: the tifffile path
        tifffile.imwrite(path, np.zeros((30, 40, 3), np.uint16), photometric="rgb")
    else:
        write_image(path, np.full((30, 40, 3), 0.5, np.float32))

    def refuse(*args, **kwargs):
        raise AssertionError("decoded an image above the limit")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    monkeypatch.setattr(tifffile.TiffPage, "asarray", refuse)
    with pytest.raises(ImageReadError, match="1200 pixels exceeds the limit of 1199"):
        read_image(path, max_pixels=1199)


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_temporaries_of_dead_writers_are_removed(tmp_path) -> None:
    """The first write into a folder sweeps it: temporaries of dead writers go, live ones stay."""
    H = HOST_TAG

    dead, alive = _dead_pid(), os.getppid()
    stale = tmp_path / f".x.png.{H}-{dead}-0123456789ab.tmp.png"
    stale_other = tmp_path / f".y.tif.{H}-{dead}-0123456789ab.tmp.tif"  # any target in the folder
    live = tmp_path / f".x.png.{H}-{alive}-0123456789ab.tmp.png"
    other_host = "0" * 8 if H != "0" * 8 else "1" * 8  # another node's writer: never ours to judge
    odd = [tmp_path / ".x.png.notapid.tmp.png",
           tmp_path / f".z.png.{H}-{dead}-nothex123456.tmp.png", tmp_path / ".hidden",
           tmp_path / f"x{H}-{dead}-0123456789ab.tmp.png",
           tmp_path / f".v.png.{other_host}-{dead}-0123456789ab.tmp.png"]
    for p in (stale, stale_other, live, *odd):
        p.write_bytes(b"partial")
    write_image(tmp_path / "x.png", np.zeros((4, 4), np.float32))
    assert not stale.exists() and not stale_other.exists()
    assert live.exists() and all(p.exists() for p in odd)
    with Image.open(tmp_path / "x.png") as im:
        assert im.size == (4, 4)
    # Later writes into the same folder do not list it again (a batch lists it once).
    again = tmp_path / f".w.png.{H}-{dead}-0123456789ab.tmp.png"
    again.write_bytes(b"partial")
    write_image(tmp_path / "w.png", np.zeros((4, 4), np.float32))
    assert again.exists()


def test_a_killed_writer_leaves_no_file_under_the_real_name(tmp_path) -> None:
    """Kill a writer mid-encode: no target, one hidden temporary; a later process sweeps it."""
    import signal

    script = (
        "import sys, time, numpy as np, restorekit.io as rio\n"
        "def stuck(fh, *a, **k):\n"
        "    fh.write(b'half'); fh.flush(); print('writing', flush=True); time.sleep(600)\n"
        "rio._encode_pillow = stuck\n"
        "rio.write_image(sys.argv[1], np.zeros((8, 8), np.float32))\n"
    )
    target = tmp_path / "out.png"
    proc = subprocess.Popen([sys.executable, "-c", script, str(target)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert not target.exists()
    prefix = f".out.png.{HOST_TAG}-{proc.pid}-"
    assert [p.name.startswith(prefix) for p in tmp_path.iterdir()] == [True]
    subprocess.run([sys.executable, "-c", "import sys, numpy as np, restorekit.io as rio; "
                    "rio.write_image(sys.argv[1], np.ones((2, 2), np.float32))",
                    str(tmp_path / "other.png")], check=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.png"]


def test_atomic_writes_get_normal_permissions(tmp_path) -> None:
    """Writers that create 0600 files (safetensors does) still leave 0666 minus the umask."""
    from restorekit.atomic import atomic_write

    def private(tmp: str) -> None:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, b"x")
        os.close(fd)

    mask = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "f.bin", private)
    finally:
        os.umask(mask)
    import restorekit.atomic as atomic

    assert path.stat().st_mode & 0o777 == 0o666 & ~atomic._UMASK


def test_atomic_write_into_a_folder_that_takes_no_files_is_one_clear_error(tmp_path) -> None:
    from restorekit.atomic import atomic_write
    from restorekit.errors import RestorekitError

    called = []
    with pytest.raises(RestorekitError, match="cannot create a file in"):
        atomic_write(tmp_path / "missing" / "f.bin", lambda tmp: called.append(tmp))
    assert not called  # the writer never ran
