"""Limits and options of ``restorekit serve``, validated once when the app is built."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from restorekit.errors import RestorekitError
from restorekit.io import SUPPORTED_FORMATS


def default_workers() -> int:
    """One worker per CPU core available to this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ServeSettings:
    """What the server allows and how it runs restores.

    ``max_upload_bytes`` caps each uploaded file (image or mask); ``max_pixels`` caps the
    width x height of an input *and* of a result (super-resolution multiplies it), checked from
    the file header before anything is decoded. ``timeout_seconds`` counts from the moment a
    request arrives, waiting in the queue included. ``workers`` restores run at once; up to
    ``max_queue`` more wait. Finished results are kept ``result_ttl_seconds`` for download.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_bytes: int = 64 * 1024 * 1024
    max_pixels: int = 40_000_000
    allowed_formats: tuple[str, ...] = SUPPORTED_FORMATS
    timeout_seconds: float = 600.0
    workers: int = field(default_factory=default_workers)
    max_queue: int = 32
    device: str | None = None
    result_ttl_seconds: float = 900.0
    temp_dir: Path | None = None

    def __post_init__(self) -> None:
        formats = tuple(dict.fromkeys(f.strip().upper() for f in self.allowed_formats))
        formats = tuple("JPEG" if f == "JPG" else "TIFF" if f == "TIF" else f for f in formats)
        object.__setattr__(self, "allowed_formats", formats)
        bad = [f for f in formats if f not in SUPPORTED_FORMATS]
        if bad or not formats:
            raise RestorekitError(f"unsupported image format(s) {', '.join(bad) or '(none)'}; "
                                  f"choose from {', '.join(SUPPORTED_FORMATS)}")
        _positive("max_upload_bytes", self.max_upload_bytes)
        _positive("max_pixels", self.max_pixels)
        _positive("timeout_seconds", self.timeout_seconds)
        _positive("workers", self.workers)
        _positive("result_ttl_seconds", self.result_ttl_seconds)
        if self.max_queue < 0:
            raise RestorekitError(f"max_queue must be >= 0, got {self.max_queue}")
        if not 0 <= self.port <= 65535:
            raise RestorekitError(f"port must be in 0..65535, got {self.port}")
        if self.temp_dir is not None and not Path(self.temp_dir).is_dir():
            raise RestorekitError(f"temporary folder '{self.temp_dir}' does not exist")

    @property
    def is_loopback(self) -> bool:
        """True when only this machine can reach the server."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise RestorekitError(f"{name} must be positive, got {value}")
