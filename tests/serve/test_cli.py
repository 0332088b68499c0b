"""``restorekit serve``: options become ServeSettings, bad ones fail with one clear error."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from click.testing import CliRunner

from restorekit.cli.serve import COMMANDS, serve_command
from restorekit.errors import RestorekitError


@pytest.fixture
def fake_run(monkeypatch) -> dict[str, Any]:
    """Replace uvicorn.run (it would block) and record how it was called."""
    import uvicorn

    calls: dict[str, Any] = {}

    def run(app: Any, **kwargs: Any) -> None:
        calls.update(kwargs, app=app)

    monkeypatch.setattr(uvicorn, "run", run)
    return calls


def test_command_is_exported() -> None:
    assert COMMANDS == [serve_command] and serve_command.name == "serve"


def test_help_lists_the_limits() -> None:
    result = CliRunner().invoke(serve_command, ["--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--workers", "--max-upload-mb", "--max-pixels",
                   "--formats", "--timeout", "--max-queue"):
        assert option in result.output
    assert "127.0.0.1" in result.output


def test_options_become_settings(fake_run: dict[str, Any]) -> None:
    port = _free_port()
    result = CliRunner().invoke(serve_command, [
        "--port", str(port), "--workers", "1", "--max-upload-mb", "1.5", "--max-pixels", "1000",
        "--formats", "png,jpg", "--timeout", "9", "--max-queue", "3", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert (fake_run["host"], fake_run["port"]) == ("127.0.0.1", port)
    settings = fake_run["app"].state.serve.settings
    assert settings.max_upload_bytes == int(1.5 * 1024 * 1024)
    assert settings.max_pixels == 1000 and settings.timeout_seconds == 9
    assert settings.allowed_formats == ("PNG", "JPEG")
    assert (settings.workers, settings.max_queue, settings.device) == (1, 3, "cpu")
    assert f"http://127.0.0.1:{port}/" in result.stderr
    fake_run["app"].state.serve.close()


def test_non_loopback_host_warns(fake_run: dict[str, Any]) -> None:
    result = CliRunner().invoke(serve_command, ["--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 0, result.output
    assert "not loopback" in result.stderr
    fake_run["app"].state.serve.close()


def test_bad_formats_fail_with_one_clear_error(fake_run: dict[str, Any]) -> None:
    result = CliRunner().invoke(serve_command, ["--formats", "PNG,GIF"])
    assert isinstance(result.exception, RestorekitError)
    assert "unsupported image format(s) GIF" in str(result.exception)
    assert "app" not in fake_run


def test_bad_numbers_are_usage_errors() -> None:
    for args in (["--port", "70000"], ["--max-upload-mb", "0"], ["--workers", "0"]):
        result = CliRunner().invoke(serve_command, args)
        assert result.exit_code == 2, args


def test_busy_port_fails_before_serving(fake_run: dict[str, Any]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = CliRunner().invoke(serve_command, ["--port", str(port)])
    assert isinstance(result.exception, RestorekitError)
    assert f"cannot listen on 127.0.0.1:{port}" in str(result.exception)
    assert "app" not in fake_run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
