"""``restorekit demo``: the toolkit at work on bundled sample images in under a minute."""

from __future__ import annotations

from pathlib import Path

import click

from restorekit.cli.state import get_state


@click.command("demo")
@click.option("-o", "--output", default="restorekit-demo.png", show_default=True,
              type=click.Path(dir_okay=False), help="Where to write the comparison figure.")
@click.option("--size", type=click.IntRange(min=32, max=512), default=192, show_default=True,
              help="Side of the sample crops.")
@click.option("-m", "--method", "methods", multiple=True,
              help="Methods to compare (repeatable; default: auto, the shipped model for "
                   "each damage, then the classical methods).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the degradations.")
@click.option("--format", "fmt", type=click.Choice(["table", "md", "csv", "json"]),
              default="table", show_default=True, help="How to print the scores.")
@click.option("--overwrite", is_flag=True, help="Replace an existing figure.")
def demo_command(output: str, size: int, methods: tuple[str, ...], seed: int, fmt: str,
                 overwrite: bool) -> None:
    """Degrade sample images, restore them, print PSNR/SSIM and write a comparison figure."""
    from restorekit.demo import run_demo
    from restorekit.errors import ImageWriteError
    from restorekit.evaluate.tables import format_table
    from restorekit.io import write_image

    state = get_state()
    if Path(output).exists() and not overwrite:
        raise ImageWriteError(f"output {output} exists (use --overwrite)")
    result = run_demo(size=size, methods=list(methods) or None, seed=seed,
                      progress=lambda items: state.progress(items, desc="Demo", unit="case"))
    click.echo(format_table(result.rows, fmt, digits=3))
    write_image(output, result.grid, overwrite=overwrite)
    state.status(f"comparison figure written to {output}")


COMMANDS = [demo_command]
