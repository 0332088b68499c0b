"""ServeSettings: limits are validated once, formats normalised, loopback detected."""

from __future__ import annotations

import pytest

from restorekit.errors import RestorekitError
from restorekit.serve.settings import SUPPORTED_FORMATS, ServeSettings


def test_defaults_are_loopback_and_all_formats() -> None:
    s = ServeSettings()
    assert s.host == "127.0.0.1" and s.is_loopback
    assert s.allowed_formats == SUPPORTED_FORMATS
    assert s.workers >= 1


def test_formats_are_normalised() -> None:
    s = ServeSettings(allowed_formats=(" png", "jpg", "TIF", "png", "webp"))
    assert s.allowed_formats == ("PNG", "JPEG", "TIFF", "WEBP")


@pytest.mark.parametrize("formats", [("GIF",), ("png", "avif"), ()])
def test_unknown_formats_are_refused(formats: tuple[str, ...]) -> None:
    with pytest.raises(RestorekitError, match="unsupported image format"):
        ServeSettings(allowed_formats=formats)


@pytest.mark.parametrize("field", ["max_upload_bytes", "max_pixels", "timeout_seconds",
                                   "workers", "result_ttl_seconds"])
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(RestorekitError, match=field):
        ServeSettings(**{field: 0})


def test_bad_port_and_queue_and_folder(tmp_path) -> None:
    with pytest.raises(RestorekitError, match="port"):
        ServeSettings(port=70000)
    with pytest.raises(RestorekitError, match="max_queue"):
        ServeSettings(max_queue=-1)
    with pytest.raises(RestorekitError, match="does not exist"):
        ServeSettings(temp_dir=tmp_path / "missing")


@pytest.mark.parametrize("host,loopback", [("127.0.0.1", True), ("127.0.0.5", True),
                                           ("localhost", True), ("::1", True),
                                           ("0.0.0.0", False), ("192.168.1.2", False),
                                           ("example.org", False)])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert ServeSettings(host=host).is_loopback is loopback
