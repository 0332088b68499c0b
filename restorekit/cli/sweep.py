"""``restorekit benchmark``, ``restorekit sweep`` and ``restorekit plot-loss``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from restorekit.cli.options import crop_border_option, table_format_option
from restorekit.cli.state import get_state
from restorekit.errors import RestorekitError
from restorekit.evaluate.tables import format_table


def _progress(desc: str) -> Callable[[Iterable[Any]], Iterable[Any]]:
    """A progress-bar wrapper for the evaluation loops (silent with --quiet)."""
    state = get_state()
    return lambda items: state.progress(list(items), desc=desc, leave=False)


class _Unreadable:
    """Unreadable dataset images: skipped as they come, named again after the table."""

    def __init__(self) -> None:
        self.files: list[tuple[str, str]] = []

    def __call__(self, path: str, reason: str) -> None:
        self.files.append((path, reason))

    def report(self) -> int:
        """Name the skipped files on stderr; the exit code (1 when any was skipped)."""
        if not self.files:
            return 0
        err = click.get_text_stream("stderr")
        click.echo(f"restorekit: skipped {len(self.files)} unreadable image"
                   f"{'s' if len(self.files) > 1 else ''}:", file=err)
        for path, reason in self.files:
            click.echo(f"  {path}: {reason}", file=err)
        return 1


def _parse_values(text: str) -> list[float | int]:
    values: list[float | int] = []
    for raw in text.split(","):
        raw = raw.strip()
        try:
            num = float(raw)
        except ValueError:
            raise click.BadParameter(f"{raw!r} is not a number", param_hint="--values") from None
        values.append(int(num) if num.is_integer() and "." not in raw else num)
    return values


def _sweep_images(inputs: tuple[str, ...]) -> list[Path]:
    from restorekit.cli.files import expand_inputs

    files = [p for p, _ in expand_inputs(list(inputs))]
    if not files:
        raise RestorekitError("no images found in " + ", ".join(inputs))
    return files


@click.command("benchmark")
@click.option("--method", "-m", "methods", multiple=True, required=True,
              help="Restorer to evaluate (repeatable): a registered method, a shipped model, "
                   "or ARCH@WEIGHTS for a network with its weights file.")
@click.option("--degradation", "-d", "degradations", multiple=True, required=True,
              help='Degradation spec, e.g. "gaussian:sigma=25" (repeatable).')
@click.option("--dataset", "datasets", multiple=True, required=True,
              type=click.Path(exists=True, file_okay=False),
              help="Folder of clean images (repeatable).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the degradations.")
@click.option("--y-channel", is_flag=True, help="Measure on the BT.601 Y channel (RGB inputs).")
@crop_border_option
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Use only the first N images of each dataset.")
@click.option("--per-image", is_flag=True, help="Print one row per image instead of means.")
@table_format_option
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Also write a bar chart of mean PSNR as PNG.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --plot file.")
def benchmark_command(methods: tuple[str, ...], degradations: tuple[str, ...],
                      datasets: tuple[str, ...], seed: int, y_channel: bool, crop_border: int,
                      limit: int | None, per_image: bool, fmt: str, plot: str | None,
                      overwrite: bool) -> int:
    """Mean PSNR/SSIM/seconds of every --method on every --degradation of every --dataset.

    The degraded input is scored as "(input)". Noise is seeded per image and degradation, so
    numbers are comparable across runs and methods. Unreadable images are skipped and named
    after the table (exit code 1).
    """
    from restorekit.evaluate.benchmark import run_benchmark, summarize

    if plot:
        from restorekit.cli.files import check_side_output, expand_inputs

        check_side_output(plot, "--plot", overwrite=overwrite, suffix=".png",
                          inputs=[p for p, _ in expand_inputs(list(datasets))])
    named: dict[str, str] = {}
    for d in datasets:
        name = Path(d).resolve().name or d
        if name in named:
            name = d
        named[name] = d
    unreadable = _Unreadable()
    rows = run_benchmark(list(methods), list(degradations), named, seed=seed,
                         y_channel=y_channel, crop_border=crop_border, limit=limit,
                         progress=_progress("Benchmark"), on_skip=unreadable)
    summary = summarize(rows)
    click.echo(format_table(rows if per_image else summary, fmt))
    if plot:
        from restorekit.evaluate.report import plot_benchmark

        plot_benchmark(summary, plot)
        get_state().status(f"wrote {plot}")
    return unreadable.report()


@click.command("sweep")
@click.argument("images", nargs=-1, required=True)
@click.option("--method", "-m", required=True,
              help="Restorer to evaluate (registered, shipped, or ARCH@WEIGHTS).")
@click.option("--spec", required=True, help='Degradation template, e.g. "gaussian:sigma={}".')
@click.option("--values", "values_text", required=True, help="Comma-separated, e.g. 5,15,25,50.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the degradations.")
@click.option("--y-channel", is_flag=True, help="Measure on the BT.601 Y channel (RGB inputs).")
@crop_border_option
@table_format_option
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Also write PSNR (restored and input) against the value as PNG.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --plot file.")
def sweep_command(images: tuple[str, ...], method: str, spec: str, values_text: str, seed: int,
                  y_channel: bool, crop_border: int, fmt: str, plot: str | None,
                  overwrite: bool) -> int:
    """Mean PSNR/SSIM of --method on IMAGES (files or folders) for each of --values in --spec.

    Unreadable images are skipped and named after the table (exit code 1).
    """
    from restorekit.evaluate.sweep import sweep

    values = _parse_values(values_text)
    files = _sweep_images(images)
    if plot:
        from restorekit.cli.files import check_side_output

        check_side_output(plot, "--plot", inputs=files, overwrite=overwrite, suffix=".png")
    unreadable = _Unreadable()
    rows = sweep(method, spec, values, files, seed=seed, y_channel=y_channel,
                 crop_border=crop_border, include_input=True, progress=_progress("Sweep"),
                 on_skip=unreadable)
    click.echo(format_table(rows, fmt))
    if plot:
        from restorekit.evaluate.report import plot_sweep

        plot_sweep(rows, "value", ["psnr", "input_psnr"], plot, title=f"{method}: {spec}")
        get_state().status(f"wrote {plot}")
    return unreadable.report()


@click.command("plot-loss")
@click.argument("log_csv", type=click.Path(dir_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="PNG file to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
def plot_loss_command(log_csv: str, output: str, overwrite: bool) -> int:
    """Plot loss vs step of a training LOG_CSV with a fitted a + b ln(step) trend."""
    from restorekit.cli.files import check_side_output
    from restorekit.evaluate.report import plot_loss_curve

    check_side_output(output, "-o", inputs=[Path(log_csv)], overwrite=overwrite, suffix=".png")
    fit = plot_loss_curve(log_csv, output)
    if fit is not None:
        click.echo(f"trend: loss = {fit[0]:.6g} {'+' if fit[1] >= 0 else '-'} "
                   f"{abs(fit[1]):.6g} ln(step)")
    get_state().status(f"wrote {output}")
    return 0


COMMANDS = [benchmark_command, sweep_command, plot_loss_command]
