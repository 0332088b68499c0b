"""``restorekit restore``: restore image files, folders or globs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from restorekit.cli.batch import run_batch
from restorekit.cli.files import plan_jobs
from restorekit.cli.options import parse_options
from restorekit.cli.state import get_state
from restorekit.train.distributed import dist_info, shard


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@click.command("restore")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", help="Output file (one input) or folder. Default: NAME_restored.EXT"
              " beside each input.")
@click.option("-m", "--method", "--model", "method", default="auto", show_default=True,
              help="Restorer name (see `restorekit models`); auto picks the best available.")
@click.option("--weights", type=click.Path(dir_okay=False), help="Weights for a network method.")
@click.option("--sigma", type=click.FloatRange(min=0), help="Noise level (0-255 scale); "
              "estimated from each image when omitted.")
@click.option("--tile", type=click.IntRange(min=0), help="Tile size for networks (0 = never tile;"
              " default: by memory budget).")
@click.option("--tile-overlap", type=click.IntRange(min=0), default=32, show_default=True)
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N, mps, auto.")
@click.option("--set", "options", multiple=True, metavar="KEY=VALUE",
              help="Method option, e.g. --set patch_size=7 (repeatable).")
@click.option("-r", "--recursive", is_flag=True, help="Descend into sub-folders.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (never inputs).")
@click.option("--skip-existing", is_flag=True, help="Skip inputs whose output exists.")
def restore_command(inputs: tuple[str, ...], output: str | None, method: str,
                    weights: str | None, sigma: float | None, tile: int | None,
                    tile_overlap: int, device: str, options: tuple[str, ...], recursive: bool,
                    overwrite: bool, skip_existing: bool) -> int:
    """Restore INPUTS (files, folders or glob patterns) and write the results."""
    from restorekit.api import resolve_method, restore_with_info
    from restorekit.restorers.base import get_entry, load_restorer

    state = get_state()
    if method != "auto":
        get_entry(method)  # an unknown name fails once, before any file is read
    jobs = plan_jobs(list(inputs), output, suffix="restored", recursive=recursive)
    cluster = dist_info()
    if cluster.distributed:
        # Under torchrun each rank takes every world-th file; outputs that exist are skipped so
        # a killed job resumes where it stopped.
        jobs = shard(jobs, cluster.rank, cluster.world)
        skip_existing = skip_existing or not overwrite
        if device == "auto":
            device = f"cuda:{cluster.local_rank}" if _cuda_available() else "cpu"
    config: dict[str, Any] = parse_options(options)
    cache: dict[int, Any] = {}

    def restorer_for(channels: int) -> Any:
        if channels not in cache:
            name = resolve_method(method, channels)
            tiling = ({"tile": tile, "tile_overlap": tile_overlap}
                      if get_entry(name).kind == "network" else {})
            cache[channels] = load_restorer(name, weights=weights, device=device, **tiling,
                                            **config)
        return cache[channels]

    def operation(image: np.ndarray, meta: Any, source: Path) -> tuple[np.ndarray, str]:
        channels = 1 if image.ndim == 2 else image.shape[-1]
        out, info = restore_with_info(image, restorer_for(channels), sigma=sigma)
        how = f"method={info.method}"
        if info.sigma is not None:
            how += f" sigma={info.sigma:.2f}" + (" (estimated)" if info.sigma_estimated else "")
        return out, f"{how} {info.seconds:.2f}s"

    return run_batch(jobs, operation, state, overwrite=overwrite, skip_existing=skip_existing,
                     verb="restored").exit_code


COMMANDS = [restore_command]
