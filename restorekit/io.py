"""Read and write images as float32 arrays in [0, 1], and convert RGB <-> YCbCr (BT.601).

House contract: an image is a float32 numpy array with values in [0, 1], shaped HxW (gray) or
HxWx3 (RGB). :func:`read_image` returns such an array plus an :class:`ImageMeta` describing the
file, and :func:`write_image` writes an array back, by default "the same way" as the meta says.

Rules a caller must know:

* **Formats**: PNG, JPEG, TIFF, BMP and WebP, by content when reading and by suffix when
  writing. Multi-frame files (APNG, multi-page TIFF, MPO, animated WebP) give their first frame.
* **Alpha** is split off: the array is always HxW or HxWx3 and the alpha (float32 HxW in [0, 1],
  straight, never premultiplied or composited) is in ``meta.alpha``. It is written back to
  PNG, TIFF and WebP and silently dropped for JPEG and BMP. If the image to write is a
  different size than ``meta.alpha`` (e.g. after super-resolution), the alpha is resized
  bilinearly to fit.
* **Palette** images become RGB, or gray when every used colour is gray; palette transparency
  becomes ``meta.alpha``. **1-bit** images become 8-bit gray (0.0 or 1.0).
* **Bit depth**: 8 or 16. 16-bit gray and colour PNG/TIFF keep full 16-bit precision. Float or
  32-bit TIFF samples are read (floats clipped to [0, 1]) and reported as 16-bit. Writing uses
  ``bit_depth`` if given, else ``meta.bit_depth``, else 8. JPEG and BMP are 8-bit only: an
  explicit ``bit_depth=16`` for them raises :class:`ImageWriteError`, while a 16 inherited from
  ``meta`` falls back to 8 (the meta describes the source file, it is not a request). WebP is
  8-bit too.
* **Gray vs RGB** on writing follows the array's shape (HxW or HxWx1 -> gray, HxWx3 -> RGB);
  ``meta.color`` records what the source file was.
* **EXIF orientation** is applied on reading (the array is upright) and EXIF is not written back,
  so outputs are never rotated twice. An ICC profile is carried through (PNG, JPEG, TIFF, WebP) when
  its colour space (gray/RGB) matches the output.
* **JPEG** is written at quality 95 and 4:4:4 chroma unless asked otherwise (``quality``,
  ``subsampling``); ``restorekit degrade`` keeps the quality of a spec that ends in ``jpeg``.
  **WebP** is written lossless (every 8-bit sample exact, alpha included) unless a ``quality``
  is given, which makes it lossy at that quality.
* **Writes are atomic**: a temporary file in the target folder, fsync, then rename; on failure
  nothing is left behind, and an existing file is only replaced with ``overwrite=True``.
* **Pixel limit** (decompression bombs, memory): images above ``max_pixels`` pixels are refused
  from the header, before decoding. The limit is the ``max_pixels`` argument, else the
  ``RESTOREKIT_MAX_PIXELS`` environment variable, else ``MAX_PIXELS``; 0 or None means no
  limit. It replaces Pillow's own limit for reads through this module.
* **Killed writers**: a process killed mid-write leaves its hidden temporary file; the first
  write of a later process into that folder removes temporaries whose writer no longer exists.
"""

from __future__ import annotations

import logging
import os
import struct
import sys
import threading
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from restorekit.atomic import remove_stale_temps, temp_path
from restorekit.errors import ImageReadError, ImageWriteError
from restorekit.jpeg_quality import JpegQuality, quality_from_tables

__all__ = [
    "DEFAULT_JPEG_QUALITY",
    "EIGHT_BIT_FORMATS",
    "IMAGE_SUFFIXES",
    "MAX_PIXELS",
    "MAX_PIXELS_ENV",
    "SUPPORTED_FORMATS",
    "SUPPORTED_FORMATS_TEXT",
    "ImageMeta",
    "default_max_pixels",
    "is_image_file",
    "read_image",
    "rgb_to_y",
    "rgb_to_ycbcr",
    "to_float32",
    "write_image",
    "ycbcr_to_rgb",
]

MAX_PIXELS: int | None = 100_000_000
"""Default pixel limit of :func:`read_image` (width x height; 100 MP of RGB float32 is 1.2 GB per
array); ``None`` or 0 disables the check."""

MAX_PIXELS_ENV = "RESTOREKIT_MAX_PIXELS"
"""Environment variable that overrides ``MAX_PIXELS`` (a pixel count; 0 = no limit)."""

DEFAULT_JPEG_QUALITY = 95
"""JPEG quality used when writing, since the quality of a source JPEG is unknown."""

_JPEG_SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}  # Pillow's codes

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
"""Lower-case file suffixes this module reads and writes."""

_FORMAT_BY_SUFFIX = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".webp": "WEBP",
}
SUPPORTED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "TIFF", "BMP", "WEBP")
"""Formats :func:`read_image` and :func:`write_image` handle (Pillow's names)."""
SUPPORTED_FORMATS_TEXT = "PNG, JPEG, TIFF, BMP or WebP"
"""The same list, for messages."""
_PILLOW_ALIASES = {"MPO": "JPEG"}  # camera JPEGs with extra frames are identified as MPO
_ALPHA_FORMATS = ("PNG", "TIFF", "WEBP")
EIGHT_BIT_FORMATS: tuple[str, ...] = ("JPEG", "BMP", "WEBP")
"""Formats that hold 8-bit samples only."""
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_GRAY16_MODES = ("I;16", "I;16B", "I;16L", "I;16N")

# Pillow's decompression-bomb limit is a module global; it is lifted only while Image.open parses
# a header (our own limit is checked right after), under a lock so concurrent reads are safe.
_PIL_OPEN_LOCK = threading.Lock()

# A corrupt file is reported once, as an ImageReadError; the decoders' own complaints about it
# (Pillow warnings, Pillow and tifffile log records) are silenced while this module reads, so
# they do not add stray lines to stderr. The log filter acts only in the reading thread;
# Pillow's warnings come while a header or TIFF tags are parsed, which happens under
# _PIL_OPEN_LOCK (so Pillow TIFF decoding is serialised between threads). libtiff's own C-level
# warnings (e.g. "TIFFFetchNormalTag: ...") go straight to file descriptor 2 and are not caught.
_READING = threading.local()


class _DuringReads(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_READING, "active", False)


_DURING_READS = _DuringReads()
_QUIET_LOGGERS: set[str] = set()


def _quiet_decoder_loggers() -> None:
    """Attach the filter to the tifffile and Pillow loggers (plugins load lazily)."""
    if not _QUIET_LOGGERS:
        Image.init()  # import every Pillow plugin now, so their loggers exist
        logging.getLogger("tifffile")
    for name in list(logging.Logger.manager.loggerDict):
        if name not in _QUIET_LOGGERS and (name == "tifffile" or name.startswith("PIL")):
            logger = logging.getLogger(name)
            if _DURING_READS not in logger.filters:
                logger.addFilter(_DURING_READS)
            _QUIET_LOGGERS.add(name)


@contextmanager
def _quiet_header() -> Iterator[None]:
    """Hold _PIL_OPEN_LOCK with Pillow's warnings ignored (header and EXIF parsing)."""
    with _PIL_OPEN_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


class _Unset:
    def __repr__(self) -> str:
        return "MAX_PIXELS"


_UNSET: Any = _Unset()


@dataclass
class ImageMeta:
    """What :func:`read_image` learnt about a file, enough to write a result back the same way.

    ``color`` is "gray" or "rgb" (the source's colour layout), ``bit_depth`` 8 or 16, ``alpha``
    the separated alpha channel (float32 HxW in [0, 1], same orientation as the pixels) or None.
    ``exif_orientation`` is the EXIF value found in the file; it is already applied to the pixels.
    ``source_mode`` is the decoder's mode (e.g. "P", "RGBA", "I;16", "RGB;16") for information.
    ``jpeg_quality`` is, for a JPEG, the quality read from its quantization tables
    (:mod:`restorekit.jpeg_quality`).
    """

    format: str
    bit_depth: int = 8
    color: str = "rgb"
    alpha: np.ndarray | None = field(default=None, repr=False, compare=False)
    path: Path | None = None
    icc_profile: bytes | None = field(default=None, repr=False)
    exif_orientation: int = 1
    source_mode: str = ""
    jpeg_quality: JpegQuality | None = None

    @property
    def channels(self) -> int:
        """Number of colour channels of the source (1 or 3), alpha not counted."""
        return 1 if self.color == "gray" else 3

    @property
    def has_alpha(self) -> bool:
        return self.alpha is not None


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` has an image suffix (case-insensitive) and is not a hidden dot-file.

    Dot-files are excluded so folder scans skip macOS ``._name.png`` resource forks and the
    temporary files :func:`write_image` creates while writing.
    """
    p = Path(path)
    return p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")


def to_float32(array: Any, *, clip: bool = True) -> np.ndarray:
    """Convert an array of any numeric dtype to a new float32 array in [0, 1].

    Unsigned ints are divided by their dtype's maximum (uint8 /255, uint16 /65535), signed ints
    by their positive maximum with negatives clipped to 0 (scikit-image ``img_as_float`` scaling),
    bools map to 0/1, and floats are not rescaled, only cast and clipped to [0, 1] (NaN stays NaN);
    ``clip=False`` keeps floats outside [0, 1] (unclipped noise, which a denoiser can use).
    """
    a = np.asarray(array)
    kind = a.dtype.kind
    if kind == "b":
        return a.astype(np.float32)
    if kind in "ui":
        info = np.iinfo(a.dtype)
        if kind == "u" and a.dtype.itemsize <= 2:  # exact operands: one correctly rounded division
            return a.astype(np.float32) / np.float32(info.max)
        out = (a.astype(np.float64) / float(info.max)).astype(np.float32)
        return np.maximum(out, 0.0, out=out) if kind == "i" else out
    if kind == "f":
        if not clip:
            with np.errstate(over="ignore"):  # beyond float32: inf, which callers refuse
                return a.astype(np.float32)
        return np.clip(a, 0.0, 1.0).astype(np.float32, copy=False)  # clip first: no overflow
    raise TypeError(f"cannot convert an array of dtype {a.dtype} to an image")


def _oneline(text: object) -> str:
    return " ".join(str(text).split())


def _read_error(path: Path, reason: str) -> ImageReadError:
    return ImageReadError(f"cannot read image '{path}': {_oneline(reason)}")


def _write_error(path: Path, reason: str) -> ImageWriteError:
    return ImageWriteError(f"cannot write image '{path}': {_oneline(reason)}")


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


@dataclass
class _Decoded:
    pixels: np.ndarray  # float32 HxW or HxWx3
    alpha: np.ndarray | None
    bit_depth: int
    color: str
    source_mode: str
    keep_icc: bool = True  # False when the pixels were converted away from the profile's space
    icc_profile: bytes | None = None
    orientation: int = 1
    jpeg_quality: JpegQuality | None = None


def read_image(
    path: str | os.PathLike[str], *, max_pixels: int | None = _UNSET
) -> tuple[np.ndarray, ImageMeta]:
    """Read a PNG, JPEG, TIFF, BMP or WebP file as float32 in [0, 1] (HxW or HxWx3) plus its meta.

    ``max_pixels`` (default: :func:`default_max_pixels`; 0 or ``None`` = no limit) refuses
    larger images from their header, before decoding, so a tiny malicious file cannot claim
    gigabytes of memory.
    Every failure raises :class:`ImageReadError` with one line naming the file and the reason.
    """
    p = Path(path)
    limit = default_max_pixels() if max_pixels is _UNSET else _checked_limit(max_pixels)
    _check_readable(p)
    was_reading = getattr(_READING, "active", False)
    _READING.active = True
    _quiet_decoder_loggers()
    try:
        dec, fmt = _decode(p, limit)
    except ImageReadError:
        raise
    except MemoryError as exc:
        raise _read_error(p, "not enough memory to decode it") from exc
    except Exception as exc:  # noqa: BLE001 - decoders raise anything on corrupt data
        raise _read_error(p, _describe(exc)) from exc
    finally:
        _quiet_decoder_loggers()  # loggers of plugins this read loaded: from now on
        _READING.active = was_reading
    pixels = _orient(dec.pixels, dec.orientation)
    alpha = None if dec.alpha is None else _orient(dec.alpha, dec.orientation)
    meta = ImageMeta(
        format=fmt,
        bit_depth=dec.bit_depth,
        color=dec.color,
        alpha=alpha,
        path=p,
        icc_profile=dec.icc_profile,
        exif_orientation=dec.orientation,
        source_mode=dec.source_mode,
        jpeg_quality=dec.jpeg_quality,
    )
    return pixels, meta


def _finite(a: np.ndarray) -> np.ndarray:
    """Float samples (TIFF) may hold NaN or infinities: NaN -> 0, +-inf -> 1 / 0."""
    a = to_float32(a)  # a new array, clipped to [0, 1] (NaN stays NaN)
    return np.nan_to_num(a, copy=False, nan=0.0, posinf=1.0, neginf=0.0)


def _check_readable(p: Path) -> None:
    try:
        st = p.stat()
    except FileNotFoundError:
        raise _read_error(p, "file not found") from None
    except OSError as exc:
        raise _read_error(p, exc.strerror or str(exc)) from None
    if p.is_dir():
        raise _read_error(p, "it is a folder, not a file")
    if st.st_size == 0:
        raise _read_error(p, "the file is empty (0 bytes)")


def _describe(exc: BaseException) -> str:
    text = _oneline(exc)
    if isinstance(exc, PermissionError):
        return "permission denied"
    if "truncated" in text.lower() or isinstance(exc, EOFError):
        return f"the file is truncated ({type(exc).__name__}: {text})"
    return f"corrupt or undecodable image data ({type(exc).__name__}: {text})"


def default_max_pixels() -> int | None:
    """The pixel limit :func:`read_image` uses by default: ``$RESTOREKIT_MAX_PIXELS`` if set,
    else ``MAX_PIXELS``; None when there is no limit (0 or None).

    A malformed environment value raises :class:`ImageReadError` (one line, says what is wrong).
    """
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return _checked_limit(MAX_PIXELS)
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = -1
    if value < 0:
        raise ImageReadError(
            f"{MAX_PIXELS_ENV}={raw!r} is not a pixel count (use an integer >= 0; 0 = no limit)"
        )
    return value or None


def _checked_limit(limit: Any) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 0:
        raise ValueError(f"max_pixels must be an integer >= 0 or None, got {limit!r}")
    return int(limit) or None


def _check_limit(p: Path, width: int, height: int, limit: int | None) -> None:
    if width <= 0 or height <= 0:
        raise _read_error(p, f"invalid image size {width}x{height}")
    if limit is not None and width * height > limit:
        raise _read_error(
            p,
            f"{width}x{height} = {width * height} pixels exceeds the limit of {limit} "
            f"(a guard against decompression bombs and memory exhaustion; to allow it, pass "
            f"--max-pixels N or set {MAX_PIXELS_ENV}=N, 0 = no limit; in Python, "
            "read_image(..., max_pixels=N))",
        )


def _pil_open(p: Path) -> Image.Image:
    """Image.open without Pillow's own pixel limit (ours is checked by the caller)."""
    with _quiet_header():
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            return Image.open(p)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _decode(p: Path, limit: int | None) -> tuple[_Decoded, str]:
    try:
        im = _pil_open(p)
    except UnidentifiedImageError:
        with open(p, "rb") as fh:
            head = fh.read(4)
        if head in _TIFF_MAGIC:  # e.g. 16-bit gray+alpha TIFF, which Pillow cannot open
            return _decode_tiff(p, limit), "TIFF"
        raise _read_error(
            p, f"not a {SUPPORTED_FORMATS_TEXT} image (content not recognised)"
        ) from None
    with im:
        fmt = _PILLOW_ALIASES.get(im.format or "", im.format or "unknown")
        if fmt not in SUPPORTED_FORMATS:
            raise _read_error(p, f"unsupported format {fmt} (supported: {SUPPORTED_FORMATS_TEXT})")
        _check_limit(p, im.size[0], im.size[1], limit)
        if fmt == "TIFF" and _tiff_needs_tifffile(im):
            return _decode_tiff(p, limit), fmt
        if fmt == "PNG" and _png_rawmode(im) in _PNG16_COLOUR:
            dec = _decode_png16_colour(im, p)
        elif fmt == "TIFF":  # Pillow re-parses the tags (EXIF) while loading, and warns
            with _quiet_header():
                im.load()
            dec = _from_pillow(im, p)
        else:
            im.load()
            dec = _from_pillow(im, p)
        if dec.keep_icc:
            dec.icc_profile = _icc_of(im)
        dec.orientation = _exif_orientation(im)
        if fmt == "JPEG":
            dec.jpeg_quality = quality_from_tables(getattr(im, "quantization", None) or {})
        return dec, fmt


def _icc_of(im: Image.Image) -> bytes | None:
    icc = im.info.get("icc_profile")
    return bytes(icc) if icc else None


def _exif_orientation(im: Image.Image) -> int:
    try:
        with _quiet_header():
            value = int(im.getexif().get(274, 1))
    except Exception:  # noqa: BLE001 - a corrupt EXIF block must not make the pixels unreadable
        return 1
    return value if 1 <= value <= 8 else 1


def _orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an HxW[xC] array so it is upright."""
    if orientation == 2:
        a = a[:, ::-1]
    elif orientation == 3:
        a = a[::-1, ::-1]
    elif orientation == 4:
        a = a[::-1]
    elif orientation == 5:
        a = a.swapaxes(0, 1)
    elif orientation == 6:
        a = np.rot90(a, -1)
    elif orientation == 7:
        a = a.swapaxes(0, 1)[::-1, ::-1]
    elif orientation == 8:
        a = np.rot90(a, 1)
    return np.ascontiguousarray(a)


def _from_pillow(im: Image.Image, p: Path) -> _Decoded:
    """Turn a loaded Pillow image into float32 pixels + alpha, by mode."""
    mode = im.mode
    if "transparency" in im.info and mode in ("1", "L", "P", "RGB"):
        rgba = np.asarray(im.convert("RGBA"))
        rgb, alpha = rgba[..., :3], rgba[..., 3]
        if mode != "RGB" and _all_gray(rgb):
            return _Decoded(to_float32(rgb[..., 0]), to_float32(alpha), 8, "gray", mode)
        return _Decoded(to_float32(rgb), to_float32(alpha), 8, "rgb", mode)
    if mode in ("1", "L"):
        return _Decoded(to_float32(np.asarray(im.convert("L"))), None, 8, "gray", mode)
    if mode in ("P", "PA"):
        arr = np.asarray(im.convert("RGBA" if mode == "PA" else "RGB"))
        alpha = to_float32(arr[..., 3]) if mode == "PA" else None
        if _all_gray(arr[..., :3]):
            return _Decoded(to_float32(arr[..., 0]), alpha, 8, "gray", mode)
        return _Decoded(to_float32(arr[..., :3]), alpha, 8, "rgb", mode)
    if mode in ("LA", "La"):
        arr = np.asarray(im.convert("LA"))
        return _Decoded(to_float32(arr[..., 0]), to_float32(arr[..., 1]), 8, "gray", mode)
    if mode in ("RGB", "RGBX", "YCbCr"):
        return _Decoded(to_float32(np.asarray(im.convert("RGB"))), None, 8, "rgb", mode)
    if mode in ("RGBA", "RGBa"):
        arr = np.asarray(im.convert("RGBA"))
        return _Decoded(to_float32(arr[..., :3]), to_float32(arr[..., 3]), 8, "rgb", mode)
    if mode == "CMYK":  # the CMYK ICC profile no longer describes the RGB pixels: drop it
        rgb = np.asarray(im.convert("RGB"))
        return _Decoded(to_float32(rgb), None, 8, "rgb", mode, keep_icc=False)
    if mode in _GRAY16_MODES:
        return _Decoded(to_float32(np.asarray(im).astype(np.uint16)), None, 16, "gray", mode)
    if mode == "I":
        arr = np.asarray(im)
        if im.format == "PNG":  # older Pillow decodes 16-bit gray PNG as 32-bit "I"
            return _Decoded(to_float32(arr.astype(np.uint16)), None, 16, "gray", mode)
        return _Decoded(to_float32(arr), None, 16, "gray", mode)
    if mode == "F":
        return _Decoded(_finite(np.asarray(im)), None, 16, "gray", mode)
    raise _read_error(p, f"unsupported colour mode {mode}")


def _all_gray(rgb: np.ndarray) -> bool:
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return bool(np.array_equal(r, g) and np.array_equal(g, b))


# 16-bit colour PNG. Pillow unfilters 16-bit samples correctly but its unpacker keeps only the
# high byte. Decoding a second time with the little-endian unpacker ("RGB;16L" takes the *other*
# byte of each big-endian sample) recovers the low bytes, so both come from Pillow's C decoder
# (all filters, Adam7 interlace). 16-bit gray+alpha is decoded once with the verbatim "RGBA"
# unpacker, whose four bytes per pixel are exactly L_hi, L_lo, A_hi, A_lo.
_PNG16_COLOUR = {"RGB;16B": "RGB;16L", "RGBA;16B": "RGBA;16L", "LA;16B": "RGBA"}


def _png_rawmode(im: Image.Image) -> str | None:
    tile = getattr(im, "tile", None) or []
    if len(tile) == 1 and tile[0][0] == "zip" and isinstance(tile[0][3], str):
        return tile[0][3]
    return None


def _with_rawmode(im: Image.Image, rawmode: str) -> None:
    t = im.tile[0]
    parts = (t[0], t[1], t[2], rawmode)
    im.tile = [type(t)._make(parts) if hasattr(t, "_make") else parts]  # type: ignore[list-item]


def _decode_png16_colour(im: Image.Image, p: Path) -> _Decoded:
    rawmode = _png_rawmode(im)
    assert rawmode is not None
    if rawmode == "LA;16B":
        _with_rawmode(im, "RGBA")
        im.load()
        b = np.asarray(im).astype(np.uint16)
        gray = (b[..., 0] << 8) | b[..., 1]
        alpha = (b[..., 2] << 8) | b[..., 3]
        return _Decoded(to_float32(gray), to_float32(alpha), 16, "gray", "LA;16")
    im.load()
    high = np.asarray(im).astype(np.uint16)
    with _pil_open(p) as second:
        if _png_rawmode(second) != rawmode:
            raise _read_error(p, "the file changed while it was being read")
        _with_rawmode(second, _PNG16_COLOUR[rawmode])
        second.load()
        low = np.asarray(second).astype(np.uint16)
    full = (high << 8) | low
    alpha = to_float32(full[..., 3]) if full.shape[-1] == 4 else None
    return _Decoded(to_float32(full[..., :3]), alpha, 16, "rgb", rawmode[:-1])


def _tiff_needs_tifffile(im: Image.Image) -> bool:
    """Pillow decodes >8-bit TIFFs with several samples per pixel to 8 bits: use tifffile."""
    if im.mode in _GRAY16_MODES or im.mode in ("I", "F"):
        return False
    bits = getattr(im, "tag_v2", {}).get(258, 8)
    bits = tuple(bits) if isinstance(bits, (tuple, list)) else (bits,)
    return max(int(b) for b in bits) > 8


def _decode_tiff(p: Path, limit: int | None) -> _Decoded:
    """Decode the first page of a TIFF with tifffile (16-bit colour, gray+alpha, float)."""
    import tifffile

    with tifffile.TiffFile(p) as tif:
        page = tif.pages[0]
        _check_limit(p, int(page.imagewidth), int(page.imagelength), limit)
        arr = page.asarray()
        photometric = int(page.photometric)
        planar = int(page.planarconfig)
        samples = int(page.samplesperpixel)
        colormap = page.colormap if photometric == 3 else None
        tags = page.tags
        icc = tags[34675].value if 34675 in tags else None
        orientation = int(tags[274].value) if 274 in tags else 1
    if arr.ndim == 3 and planar == 2 and arr.shape[0] == samples:
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3:
        raise _read_error(p, f"unsupported TIFF layout with shape {arr.shape}")
    bits = f";{arr.dtype.itemsize * 8}{'F' if arr.dtype.kind == 'f' else ''}"
    if arr.dtype.kind == "f":
        arr = _finite(arr)
    bit_depth = 8 if arr.dtype.itemsize == 1 and arr.dtype.kind in "ub" else 16
    if photometric in (0, 1):  # MINISWHITE, MINISBLACK
        gray = to_float32(arr[..., 0])
        if photometric == 0:
            gray = 1.0 - gray
        alpha = to_float32(arr[..., 1]) if arr.shape[-1] > 1 else None
        dec = _Decoded(gray, alpha, bit_depth, "gray", ("LA" if alpha is not None else "L") + bits)
    elif photometric == 2 and arr.shape[-1] >= 3:  # RGB
        alpha = to_float32(arr[..., 3]) if arr.shape[-1] > 3 else None
        mode = ("RGBA" if alpha is not None else "RGB") + bits
        dec = _Decoded(to_float32(arr[..., :3]), alpha, bit_depth, "rgb", mode)
    elif photometric == 3 and colormap is not None:  # PALETTE, 16-bit colormap entries
        rgb = np.moveaxis(np.asarray(colormap)[:, arr[..., 0]], 0, -1).astype(np.uint16)
        dec = _Decoded(to_float32(rgb), None, 16, "rgb", "P")
    else:
        raise _read_error(p, f"unsupported TIFF photometric interpretation {photometric}")
    dec.icc_profile = bytes(icc) if icc else None
    dec.orientation = orientation if 1 <= orientation <= 8 else 1
    return dec


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def write_image(
    path: str | os.PathLike[str],
    image: np.ndarray,
    meta: ImageMeta | None = None,
    *,
    bit_depth: int | None = None,
    overwrite: bool = False,
    quality: int | None = None,
    subsampling: str = "4:4:4",
) -> Path:
    """Write a [0, 1] image (HxW, HxWx1 or HxWx3) atomically; the format comes from the suffix.

    Values are clipped to [0, 1] and rounded to the bit depth (``bit_depth``, else
    ``meta.bit_depth``, else 8). ``meta`` also supplies the alpha and ICC profile to re-attach.
    ``quality`` is the JPEG quality (default 95) and ``subsampling`` its colour chroma
    subsampling (``4:4:4``, ``4:2:2`` or ``4:2:0``); WebP is lossless unless ``quality`` is
    given. Returns the path written.
    Raises :class:`ImageWriteError` for an existing file (unless ``overwrite``), a missing or
    unwritable folder, an unsupported suffix or bit depth, or any encoder failure; no partial or
    temporary file is ever left behind.
    """
    p = Path(path)
    fmt = _FORMAT_BY_SUFFIX.get(p.suffix.lower())
    if fmt is None:
        raise _write_error(
            p, f"unsupported suffix '{p.suffix}' (use one of {', '.join(IMAGE_SUFFIXES)})"
        )
    pixels = _prepare_pixels(p, image)
    depth = _resolve_depth(p, fmt, bit_depth, meta)
    maxv = 255 if depth == 8 else 65535
    color = "gray" if pixels.ndim == 2 else "rgb"
    samples = _quantize(pixels, maxv)
    if samples.ndim == 2:
        samples = samples[..., None]
    if meta is not None and meta.alpha is not None and fmt in _ALPHA_FORMATS:
        alpha = _fit_alpha(p, meta.alpha, samples.shape[:2])
        samples = np.concatenate([samples, _quantize(alpha, maxv)[..., None]], axis=-1)
    icc = _matching_icc(meta.icc_profile if meta is not None else None, color)
    if quality is not None and not 1 <= int(quality) <= 100:
        raise _write_error(p, f"JPEG/WebP quality must be in 1..100, got {quality}")
    if subsampling not in _JPEG_SUBSAMPLING:
        raise _write_error(p, f"JPEG subsampling must be one of {', '.join(_JPEG_SUBSAMPLING)}, "
                              f"got {subsampling!r}")

    def encode(fh: BinaryIO) -> None:
        if fmt == "TIFF":
            _encode_tiff(fh, samples, color, icc)
        elif fmt == "PNG" and depth == 16:
            _encode_png16(fh, samples, icc)
        else:
            _encode_pillow(fh, fmt, samples, icc, quality, _JPEG_SUBSAMPLING[subsampling])

    _atomic_write(p, encode, overwrite=overwrite)
    return p


def _prepare_pixels(p: Path, image: Any) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype.kind in "biu":
        arr = to_float32(arr)
    elif arr.dtype.kind != "f":
        raise _write_error(p, f"unsupported array dtype {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise _write_error(p, f"expected an HxW, HxWx1 or HxWx3 image, got shape {arr.shape}")
    if arr.size == 0:
        raise _write_error(p, f"the image is empty (shape {arr.shape})")
    if not np.isfinite(arr).all():
        raise _write_error(p, "the image contains NaN or infinite values")
    return arr


def _resolve_depth(p: Path, fmt: str, bit_depth: int | None, meta: ImageMeta | None) -> int:
    if bit_depth is not None:
        if bit_depth not in (8, 16):
            raise _write_error(p, f"bit depth must be 8 or 16, got {bit_depth}")
        if bit_depth == 16 and fmt in EIGHT_BIT_FORMATS:
            raise _write_error(
                p, f"{fmt} supports 8-bit only; write .png or .tif for 16-bit, or pass bit_depth=8"
            )
        return bit_depth
    if meta is not None and meta.bit_depth > 8 and fmt not in EIGHT_BIT_FORMATS:
        return 16
    return 8


def _quantize(a: np.ndarray, maxv: int) -> np.ndarray:
    """Clip to [0, 1], scale and round half-to-even to uint8/uint16."""
    scaled = np.clip(np.asarray(a, dtype=np.float32), 0.0, 1.0) * np.float32(maxv)
    return np.rint(scaled).astype(np.uint8 if maxv == 255 else np.uint16)


def _fit_alpha(p: Path, alpha: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(alpha, dtype=np.float32)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim != 2:
        raise _write_error(p, f"meta.alpha must be HxW, got shape {a.shape}")
    if a.shape != tuple(shape):  # e.g. super-resolution: scale the mask with the image
        resized = Image.fromarray(a, mode="F").resize((shape[1], shape[0]), Image.BILINEAR)
        a = np.asarray(resized, dtype=np.float32)
    return a


def _matching_icc(icc: bytes | None, color: str) -> bytes | None:
    """The ICC profile if its colour space (header bytes 16-20) matches the output, else None."""
    if not icc or len(icc) < 20:
        return None
    space = bytes(icc[16:20])
    return bytes(icc) if space == (b"GRAY" if color == "gray" else b"RGB ") else None


def _encode_pillow(fh: BinaryIO, fmt: str, samples: np.ndarray, icc: bytes | None,
                   quality: int | None, subsampling: int) -> None:
    if fmt not in _ALPHA_FORMATS:
        samples = samples[..., :3] if samples.shape[-1] >= 3 else samples[..., :1]
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[samples.shape[-1]]
    data = samples[..., 0] if mode == "L" else samples
    im = Image.fromarray(np.ascontiguousarray(data), mode=mode)
    options: dict[str, Any] = {}
    if icc and fmt in ("PNG", "JPEG", "WEBP"):
        options["icc_profile"] = icc
    if fmt == "JPEG":
        options.update(quality=DEFAULT_JPEG_QUALITY if quality is None else quality,
                       subsampling=subsampling)
    elif fmt == "WEBP" and quality is None:  # exact: keep the colour under transparent pixels
        options.update(lossless=True, quality=100, method=4, exact=True)
    elif fmt == "WEBP":
        options.update(quality=quality, method=4)
    im.save(fh, format=fmt, **options)


def _encode_tiff(fh: BinaryIO, samples: np.ndarray, color: str, icc: bytes | None) -> None:
    import tifffile

    extra = samples.shape[-1] - (1 if color == "gray" else 3)
    data = samples[..., 0] if samples.shape[-1] == 1 else samples
    tifffile.imwrite(
        fh,
        np.ascontiguousarray(data),
        photometric="minisblack" if color == "gray" else "rgb",
        planarconfig="contig" if data.ndim == 3 else None,
        extrasamples=["unassalpha"] * extra if extra else None,
        compression="zlib",
        iccprofile=icc,
        metadata=None,
    )


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def _encode_png16(fh: BinaryIO, samples: np.ndarray, icc: bytes | None) -> None:
    """Write a 16-bit PNG (gray, gray+alpha, RGB, RGBA), which Pillow cannot encode in colour.

    Each row gets the PNG filter (none, sub, up, average, paeth) with the smallest sum of
    absolute signed residuals, the usual libpng heuristic, computed vectorised in row blocks.
    """
    h, w, c = samples.shape
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    raw = np.ascontiguousarray(samples.astype(">u2")).view(np.uint8).reshape(h, w * c * 2)
    bpp = c * 2
    fh.write(b"\x89PNG\r\n\x1a\n")
    fh.write(_png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)))
    if icc:
        fh.write(_png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc)))
    comp = zlib.compressobj(6)
    chunk = 1 << 20
    pending = bytearray()
    block = max(1, (1 << 17) // raw.shape[1])  # small blocks stay in cache: ~10x faster
    for y0 in range(0, h, block):
        rows = raw[y0:y0 + block]
        prev = raw[y0 - 1:y0] if y0 else np.zeros((1, raw.shape[1]), np.uint8)
        pending += comp.compress(_png_filter_rows(rows, prev, bpp).tobytes())
        while len(pending) >= chunk:
            fh.write(_png_chunk(b"IDAT", bytes(pending[:chunk])))
            del pending[:chunk]
    pending += comp.flush()
    for start in range(0, len(pending), chunk):
        fh.write(_png_chunk(b"IDAT", bytes(pending[start:start + chunk])))
    fh.write(_png_chunk(b"IEND", b""))


def _png_filter_rows(rows: np.ndarray, prev_row: np.ndarray, bpp: int) -> np.ndarray:
    """Filter a block of raw rows (prev_row = the row above the block); prepend filter bytes."""
    x = rows.astype(np.int16)
    b = np.concatenate([prev_row.astype(np.int16), x[:-1]], axis=0)  # up
    a = np.zeros_like(x)
    a[:, bpp:] = x[:, :-bpp]  # left
    c = np.zeros_like(x)
    c[:, bpp:] = b[:, :-bpp]  # up-left
    pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    candidates = np.stack([x, x - a, x - b, x - ((a + b) >> 1), x - paeth]).astype(np.uint8)
    signed = candidates.view(np.int8).astype(np.int16)
    cost = np.abs(signed).sum(axis=2)  # (5, rows)
    best = np.argmin(cost, axis=0)
    chosen = candidates[best, np.arange(x.shape[0])]
    return np.concatenate([best.astype(np.uint8)[:, None], chosen], axis=1)


_EXISTS = "the file already exists (pass overwrite=True to replace it)"


def _atomic_write(p: Path, encode: Any, *, overwrite: bool) -> None:
    """Encode into a temporary file beside ``p``, fsync it, then move it into place."""
    parent = p.parent
    if not parent.exists():
        raise _write_error(p, f"folder '{parent}' does not exist")
    if not parent.is_dir():
        raise _write_error(p, f"'{parent}' is not a folder")
    if p.is_dir():
        raise _write_error(p, "a folder with that name exists")
    if p.exists() and not overwrite:
        raise _write_error(p, _EXISTS)
    remove_stale_temps(p)
    tmp = temp_path(p)
    try:
        fh = open(tmp, "xb")  # O_EXCL; permissions 0o666 minus umask, like any new file
    except PermissionError:
        raise _write_error(p, f"folder '{parent}' is not writable (permission denied)") from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise _write_error(p, f"cannot create a file in '{parent}': {reason}") from None
    try:
        with fh:
            encode(fh)
            fh.flush()
            os.fsync(fh.fileno())
        _commit(tmp, p, overwrite=overwrite)
    except ImageWriteError:
        raise
    except (OSError, ValueError) as exc:  # encoder and file-system failures
        raise _write_error(p, f"{type(exc).__name__}: {exc}") from exc
    finally:
        with suppress(OSError):
            os.unlink(tmp)
    _fsync_dir(parent)


def _commit(tmp: Path, p: Path, *, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, p)
        return
    try:  # a hard link fails if p appeared meanwhile, so we never clobber a file
        os.link(tmp, p)
    except FileExistsError:
        raise _write_error(p, _EXISTS) from None
    except OSError:  # file system without hard links
        if p.exists():
            raise _write_error(p, _EXISTS) from None
        os.replace(tmp, p)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX); silently skipped where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------
# Colour: ITU-R BT.601, MATLAB rgb2ycbcr convention (Y in [16, 235] / 255, Cb/Cr in [16, 240])
# --------------------------------------------------------------------------------------------

_YCC_MATRIX = np.array(
    [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]
) / 255.0
_YCC_OFFSET = np.array([16.0, 128.0, 128.0]) / 255.0
_YCC_INVERSE = np.linalg.inv(_YCC_MATRIX)


def _torch_tensor(img: Any) -> bool:
    torch = sys.modules.get("torch")  # a tensor exists only if torch is already imported
    return torch is not None and isinstance(img, torch.Tensor)


def _float_array(img: Any) -> np.ndarray:
    a = np.asarray(img)
    if a.dtype.kind != "f":
        return to_float32(a)
    return a if a.dtype in (np.float32, np.float64) else a.astype(np.float32)


def _affine(img: Any, matrix: np.ndarray, offset: np.ndarray, pre: bool, name: str) -> Any:
    """y = M @ x + offset (pre=False) or y = M @ (x - offset) (pre=True) on the channel axis."""
    if _torch_tensor(img):
        if img.ndim < 3 or img.shape[-3] != 3:
            raise ValueError(f"{name} expects a ...x3xHxW tensor, got shape {tuple(img.shape)}")
        x = img if img.is_floating_point() else img.float()
        torch = sys.modules["torch"]
        m = x.new_tensor(matrix)
        o = x.new_tensor(offset).view(3, 1, 1)
        if pre:
            x = x - o
        out = torch.einsum("oi,...ihw->...ohw", m, x)
        return out if pre else out + o
    a = _float_array(img)
    if a.ndim < 1 or a.shape[-1] != 3:
        raise ValueError(f"{name} expects an ...xHxWx3 array, got shape {a.shape}")
    m = matrix.astype(a.dtype)
    o = offset.astype(a.dtype)
    if pre:
        a = a - o
    out = a @ m.T
    return out if pre else out + o


def rgb_to_ycbcr(img: Any) -> Any:
    """RGB in [0, 1] -> YCbCr in [0, 1], BT.601 as MATLAB ``rgb2ycbcr`` (Y in [16/255, 235/255]).

    Accepts HxWx3 (any leading dims) numpy arrays and, without importing torch, ...x3xHxW torch
    tensors. Float dtypes are kept (float16 becomes float32); integers go through to_float32.
    """
    return _affine(img, _YCC_MATRIX, _YCC_OFFSET, False, "rgb_to_ycbcr")


def ycbcr_to_rgb(img: Any) -> Any:
    """Inverse of :func:`rgb_to_ycbcr` (exact matrix inverse; not clipped to [0, 1])."""
    return _affine(img, _YCC_INVERSE, _YCC_OFFSET, True, "ycbcr_to_rgb")


def rgb_to_y(img: Any) -> Any:
    """BT.601 luma Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255, as used for PSNR-Y.

    HxWx3 numpy -> HxW; ...x3xHxW torch tensor -> ...x1xHxW.
    """
    if _torch_tensor(img):
        if img.ndim < 3 or img.shape[-3] != 3:
            raise ValueError(f"rgb_to_y expects a ...x3xHxW tensor, got shape {tuple(img.shape)}")
        x = img if img.is_floating_point() else img.float()
        w = x.new_tensor(_YCC_MATRIX[0]).view(3, 1, 1)
        return (x * w).sum(dim=-3, keepdim=True) + float(_YCC_OFFSET[0])
    a = _float_array(img)
    if a.ndim < 1 or a.shape[-1] != 3:
        raise ValueError(f"rgb_to_y expects an ...xHxWx3 array, got shape {a.shape}")
    return a @ _YCC_MATRIX[0].astype(a.dtype) + a.dtype.type(_YCC_OFFSET[0])
