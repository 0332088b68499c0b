"""``restorekit serve``: run the local web app (page + JSON API) with uvicorn."""

from __future__ import annotations

import socket

import click

from restorekit.cli.state import get_state
from restorekit.errors import RestorekitError


def _check_port_free(host: str, port: int) -> None:
    """Fail with one line, before starting, when the address cannot be listened on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise RestorekitError(f"cannot listen on {host}:{port}: "
                                  f"{exc.strerror or exc}") from None


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback exposes the app to the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on.")
@click.option("--workers", type=click.IntRange(min=1),
              help="Restores run at once (default: number of CPU cores); the rest queue.")
@click.option("--max-queue", type=click.IntRange(min=0), default=32, show_default=True,
              help="Requests that may wait for a worker; more are refused (503).")
@click.option("--max-upload-mb", type=click.FloatRange(min=0, min_open=True), default=64.0,
              show_default=True, help="Largest accepted upload per file, in MiB.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=40_000_000,
              show_default=True, help="Largest width x height of an input or a result; "
              "checked from the header before decoding.")
@click.option("--formats", default="PNG,JPEG,TIFF,BMP,WEBP", show_default=True,
              help="Accepted image formats, comma-separated.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=600.0,
              show_default=True, help="Seconds a request may take, queue time included.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N, mps, auto.")
def serve_command(host: str, port: int, workers: int | None, max_queue: int,
                  max_upload_mb: float, max_pixels: int, formats: str, timeout: float,
                  device: str) -> None:
    """Run the web app: open http://HOST:PORT/ to restore images in the browser.

    The same server answers scripts: POST /api/restore (multipart field `file`), GET
    /api/models; the OpenAPI schema is at /openapi.json.
    """
    from restorekit.serve import ServeSettings, create_app
    from restorekit.serve.settings import default_workers

    state = get_state()
    settings = ServeSettings(
        host=host, port=port, workers=workers or default_workers(), max_queue=max_queue,
        max_upload_bytes=int(max_upload_mb * 1024 * 1024), max_pixels=max_pixels,
        allowed_formats=tuple(f for f in formats.split(",") if f.strip()),
        timeout_seconds=timeout, device=None if device == "auto" else device)
    _check_port_free(host, port)
    app = create_app(settings)  # checks the extra is installed
    import uvicorn

    if not settings.is_loopback:
        click.echo(f"restorekit: warning: listening on {host}, not loopback: anyone who can "
                   "reach this machine can use the app", err=True)
    if not state.quiet:
        click.echo(f"restorekit serve: http://{'[' + host + ']' if ':' in host else host}:"
                   f"{port}/  ({settings.workers} worker(s); Ctrl+C to stop)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning" if state.quiet else "info",
                timeout_graceful_shutdown=5)


COMMANDS = [serve_command]
