"""``restorekit evaluate``: PSNR/SSIM of images against references."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from restorekit.cli.files import expand_inputs
from restorekit.cli.options import crop_border_option, table_format_option
from restorekit.cli.state import get_state
from restorekit.errors import RestorekitError
from restorekit.evaluate.tables import format_table


def _reference_for(image: Path, ref: Path) -> Path:
    """The reference of ``image``: ``ref`` itself, or the file of the same stem inside it."""
    if not ref.is_dir():
        return ref
    candidates = sorted(p for p in ref.iterdir() if p.stem == image.stem)
    if not candidates:
        raise RestorekitError(f"no reference named {image.stem}.* in {ref}")
    return candidates[0]


@click.command("evaluate")
@click.argument("images", nargs=-1, required=True)
@click.option("--ref", required=True, type=click.Path(exists=True),
              help="Reference image, or a folder of references matched by file name.")
@click.option("--y-channel", is_flag=True, help="Measure on the BT.601 Y channel (RGB inputs).")
@crop_border_option
@table_format_option
def evaluate_command(images: tuple[str, ...], ref: str, y_channel: bool, crop_border: int,
                     fmt: str) -> int:
    """PSNR (dB) and SSIM of IMAGES against --ref, with a mean row."""
    from restorekit.io import read_image
    from restorekit.metrics import psnr, ssim

    state = get_state()
    rows: list[dict[str, Any]] = []
    failures: list[str] = []
    for path, _ in state.progress(expand_inputs(list(images)), desc="Evaluating", leave=False):
        try:
            img, _ = read_image(path)
            reference, _ = read_image(_reference_for(path, Path(ref)))
            if img.shape != reference.shape:
                raise RestorekitError(f"size {img.shape} differs from reference {reference.shape}")
            kw = {"y_channel": y_channel and img.ndim == 3, "crop_border": crop_border}
            rows.append({"image": str(path), "psnr": psnr(img, reference, **kw),
                         "ssim": ssim(img, reference, **kw)})
        except RestorekitError as exc:
            failures.append(f"{path}: {exc}")
    if len(rows) > 1:
        rows.append({"image": "mean", "psnr": sum(r["psnr"] for r in rows) / len(rows),
                     "ssim": sum(r["ssim"] for r in rows) / len(rows)})
    if rows:
        click.echo(format_table(rows, fmt))
    for line in failures:
        click.echo(f"restorekit: failed: {line}", err=True)
    return 1 if failures else 0


COMMANDS = [evaluate_command]
