"""``restorekit estimate-noise``: Gaussian sigma, and optionally the NLF, of each image."""

from __future__ import annotations

from typing import Any

import click

from restorekit.cli.files import expand_inputs
from restorekit.cli.options import table_format_option
from restorekit.cli.state import get_state
from restorekit.errors import RestorekitError
from restorekit.evaluate.tables import format_table


@click.command("estimate-noise")
@click.argument("images", nargs=-1, required=True)
@click.option("--nlf", is_flag=True, help="Also fit the signal-dependent model "
              "sigma^2(y) = b1*y + b2 (intensities in [0, 1]).")
@table_format_option
def estimate_noise_command(images: tuple[str, ...], nlf: bool, fmt: str) -> int:
    """Estimate the noise level of IMAGES (sigma on the 0-255 scale)."""
    from restorekit.io import read_image
    from restorekit.noise_estimation import estimate_sigma, fit_nlf_single

    state = get_state()
    rows: list[dict[str, Any]] = []
    failures: list[str] = []
    for path, _ in state.progress(expand_inputs(list(images)), desc="Estimating", leave=False):
        try:
            img, _ = read_image(path)
            row: dict[str, Any] = {"image": str(path), "sigma": float(estimate_sigma(img))}
            if nlf:
                fit = fit_nlf_single(img)
                row.update(b1=float(fit.b1), b2=float(fit.b2))
            rows.append(row)
        except RestorekitError as exc:
            failures.append(f"{path}: {exc}")
    if rows:
        click.echo(format_table(rows, fmt, digits=6 if nlf else 2))
    for line in failures:
        click.echo(f"restorekit: failed: {line}", err=True)
    return 1 if failures else 0


COMMANDS = [estimate_noise_command]
