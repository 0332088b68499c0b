"""Uploaded files on the server: a private temporary folder, header checks, decode and encode.

Nothing the client sends becomes a path: every file lives in a folder made by :mod:`tempfile`
under fixed names (``input``, ``mask``, ``result.png``); the client's file name is only shown
in messages and offered as the download name, after :func:`display_name` cleaned it.
Headers are checked (format, width x height) before any pixel is decoded, so a small file
claiming a huge image (a decompression bomb) is refused without allocating it.
"""

from __future__ import annotations

import io
import re
import shutil
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from restorekit.errors import ImageReadError, ImageWriteError
from restorekit.io import SUPPORTED_FORMATS_TEXT, ImageMeta, read_image, write_image
from restorekit.serve.errors import (
    BadRequest,
    PayloadTooLarge,
    UndecodableImage,
    UnsupportedImage,
)

SUFFIX_BY_FORMAT = {"PNG": ".png", "JPEG": ".jpg", "TIFF": ".tif", "BMP": ".bmp",
                    "WEBP": ".webp"}
MEDIA_TYPE_BY_FORMAT = {"PNG": "image/png", "JPEG": "image/jpeg", "TIFF": "image/tiff",
                        "BMP": "image/bmp", "WEBP": "image/webp"}
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_PILLOW_ALIASES = {"MPO": "JPEG"}
_PREVIEW_SIDE = 4096  # previews for the page are at most this many pixels on their long side


class UploadFolder:
    """A private temporary folder holding one sub-folder per job, removed on :meth:`close`."""

    def __init__(self, parent: Path | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="restorekit-serve-", dir=parent))
        self._lock = threading.Lock()

    def new_job_dir(self) -> Path:
        """A fresh, empty folder for one request's files."""
        with self._lock:
            if not self.root.is_dir():
                raise RuntimeError("the upload folder was closed")
            return Path(tempfile.mkdtemp(prefix="job-", dir=self.root))

    def remove(self, job_dir: Path) -> None:
        """Delete one job's folder (safe to call twice)."""
        shutil.rmtree(job_dir, ignore_errors=True)

    def close(self) -> None:
        """Delete everything."""
        with self._lock:
            shutil.rmtree(self.root, ignore_errors=True)


def display_name(filename: str | None, default: str = "image") -> str:
    """The client's file name reduced to a safe base name, for messages and downloads only."""
    base = re.split(r"[\\/]", filename or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._ -]+", "_", base).strip(" .")
    return base[:100] or default


def download_name(filename: str | None, fmt: str) -> str:
    """``NAME_restored.EXT`` with the extension of the result's format."""
    stem = display_name(filename).rsplit(".", 1)[0] or "image"
    return f"{stem}_restored{SUFFIX_BY_FORMAT[fmt]}"


@dataclass(frozen=True)
class Probe:
    """What a file's header says."""

    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def probe_image(path: Path, name: str, allowed: tuple[str, ...], max_pixels: int) -> Probe:
    """Read only the header of ``path``: refuse other formats and too many pixels."""
    if path.stat().st_size == 0:
        raise UnsupportedImage(f"'{name}' is empty (0 bytes)")
    probe = _header(path, name)
    if probe.format not in allowed:
        raise UnsupportedImage(f"'{name}' is a {probe.format} image; this server accepts "
                               f"{', '.join(allowed)}")
    if probe.width <= 0 or probe.height <= 0:
        raise UndecodableImage(f"'{name}' has an invalid size {probe.width}x{probe.height}")
    if probe.pixels > max_pixels:
        raise PayloadTooLarge(
            f"'{name}' is {probe.width}x{probe.height} = {probe.pixels:,} pixels, over this "
            f"server's limit of {max_pixels:,} (refused before decoding: possible "
            "decompression bomb)")
    return probe


def _header(path: Path, name: str) -> Probe:
    with open(path, "rb") as fh:
        head = fh.read(4)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                fmt = _PILLOW_ALIASES.get(im.format or "", im.format or "unknown")
                return Probe(fmt, int(im.width), int(im.height))
    except Image.DecompressionBombError as exc:
        raise PayloadTooLarge(f"'{name}' has too many pixels ({exc}); refused before "
                              "decoding (possible decompression bomb)") from None
    except UnidentifiedImageError:
        if head in _TIFF_MAGIC:  # layouts Pillow cannot open (e.g. 16-bit gray + alpha)
            return _tiff_header(path, name)
        raise UnsupportedImage(f"'{name}' is not a {SUPPORTED_FORMATS_TEXT} image (content not "
                               "recognised)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise UndecodableImage(f"'{name}' is a corrupt image: {exc}") from None


def _tiff_header(path: Path, name: str) -> Probe:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            return Probe("TIFF", int(page.imagewidth), int(page.imagelength))
    except Exception as exc:  # noqa: BLE001 - tifffile raises many types on corrupt data
        raise UndecodableImage(f"'{name}' is a corrupt TIFF: {exc}") from None


def decode_image(path: Path, name: str, max_pixels: int) -> tuple[np.ndarray, ImageMeta]:
    """Decode an upload (its header already probed); errors name the upload, not the path."""
    try:
        return read_image(path, max_pixels=max_pixels)
    except ImageReadError as exc:
        message = str(exc).replace(f"'{path}'", f"'{name}'").replace(str(path), name)
        raise UndecodableImage(message) from None


def decode_mask(path: Path, name: str, max_pixels: int, shape: tuple[int, int]) -> np.ndarray:
    """A bool HxW mask (True = missing) from an image where bright pixels mark missing ones."""
    pixels, _ = decode_image(path, name, max_pixels)
    gray = pixels if pixels.ndim == 2 else pixels.mean(axis=-1)
    if gray.shape != tuple(shape):
        raise BadRequest(f"the mask '{name}' is {gray.shape[1]}x{gray.shape[0]} but the image "
                         f"is {shape[1]}x{shape[0]}; they must be the same size")
    mask = gray > 0.5
    if not mask.any():
        raise BadRequest("the mask marks no missing pixels (paint or upload white where the "
                         "image is missing)")
    return mask


def encode_like(image: np.ndarray, meta: ImageMeta, job_dir: Path) -> bytes:
    """Encode ``image`` in the input's format and bit depth (alpha and ICC carried over)."""
    target = job_dir / f"result{SUFFIX_BY_FORMAT[meta.format]}"
    try:
        write_image(target, image, meta, overwrite=True)
        return target.read_bytes()
    except ImageWriteError as exc:
        raise UndecodableImage(str(exc).replace(str(target), "the result")) from None
    finally:
        target.unlink(missing_ok=True)


def png_preview(image: np.ndarray) -> bytes:
    """An 8-bit PNG of ``image`` for the browser (any input format displays), long side capped."""
    samples = np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    im = Image.fromarray(np.ascontiguousarray(samples))
    if max(im.size) > _PREVIEW_SIDE:
        im.thumbnail((_PREVIEW_SIDE, _PREVIEW_SIDE), Image.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
