"""``restorekit data``: dataset utilities (``download``)."""

from __future__ import annotations

import click

from restorekit.cli.state import get_state

DOWNLOADABLE = ("mnist",)


@click.group("data")
def data_group() -> None:
    """Download and manage datasets."""


@data_group.command("download")
@click.argument("name", type=click.Choice(DOWNLOADABLE, case_sensitive=False))
@click.option("--root", required=True, type=click.Path(file_okay=False),
              help="Folder to put the files in (created if needed).")
@click.option("--mirror", "mirrors", multiple=True, metavar="URL",
              help="Base URL to fetch from instead of the default public mirrors "
                   "(repeatable; tried in order).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Network timeout per request, seconds.")
def download_command(name: str, root: str, mirrors: tuple[str, ...], timeout: float) -> int:
    """Fetch dataset NAME into --root, verifying MD5 and SHA-256.

    Files that already verify are kept (no network needed); a broken download resumes.
    """
    from restorekit.data.mnist import download_mnist

    state = get_state()
    paths = download_mnist(root, list(mirrors) or None, quiet=state.quiet, timeout=timeout)
    for path in paths:
        state.status(f"ok {path}")
    return 0


COMMANDS = [data_group]
