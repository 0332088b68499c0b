"""``restorekit restore``: restore image files, folders or globs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from restorekit.cli.batch import gather_ranks, run_batch, summarise_batch
from restorekit.cli.files import plan_jobs
from restorekit.cli.options import parse_options
from restorekit.cli.state import get_state
from restorekit.jpeg_quality import BLOCKING_QUALITY, JpegQuality
from restorekit.train.distributed import dist_info, shard


def _is_network(method: str, task: str, masked: bool) -> bool:
    """Whether ``method`` will run a network: auto does wherever the zoo ships a model, except
    for inpainting with a mask, which auto does by biharmonic interpolation."""
    from restorekit.api import is_network
    from restorekit.zoo import zoo_models

    if method == "auto":
        return bool(zoo_models()) and not (task == "inpaint" and masked)
    return is_network(method)


def _jpeg_remark(quality: JpegQuality | None, task: str) -> str:
    """The quality of a JPEG input, and a hint when its blocking likely needs `--task jpeg`."""
    if quality is None:
        return ""
    text = f" jpeg-quality={'' if quality.exact else '~'}{quality.quality}"
    if task == "denoise" and quality.quality <= BLOCKING_QUALITY:
        text += " (blocking likely: try --task jpeg)"
    return text


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@click.command("restore")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", help="Output file (one input) or folder. Default: NAME_restored.EXT"
              " beside each input.")
@click.option("-t", "--task", type=click.Choice(["denoise", "jpeg", "sr", "inpaint"]),
              default="denoise", show_default=True,
              help="denoise (Gaussian/real noise), jpeg (deblocking), sr (upscale by --scale), "
                   "inpaint (fill --mask).")
@click.option("-m", "--method", "--model", "method", default="auto", show_default=True,
              help="A shipped model or registered method (see `restorekit models`), or "
                   "ARCH@WEIGHTS; auto picks the best available for the task (for --task "
                   "jpeg, by the JPEG quality read from the file's tables or estimated from "
                   "its pixels); with --task sr, bicubic upscales by interpolation alone.")
@click.option("--scale", type=click.Choice(["2", "3", "4"]), help="Upscaling factor for --task sr.")
@click.option("--mask", "mask_path", type=click.Path(dir_okay=False),
              help="Mask image for --task inpaint: white/non-zero pixels are missing.")
@click.option("--weights", type=click.Path(dir_okay=False), help="Weights for a network method.")
@click.option("--sigma", type=click.FloatRange(min=0, max=255), help="Noise level (0-255 scale); "
              "estimated from each image when omitted.")
@click.option("--tile", type=click.IntRange(min=0), help="Tile size for networks (0 = never tile;"
              " default: by memory budget).")
@click.option("--tile-overlap", type=click.IntRange(min=0), default=32, show_default=True,
              help="Pixels neighbouring tiles share; their outputs are blended across it, so "
              "no seam shows.")
@click.option("--self-ensemble", is_flag=True, help="Networks: average over the 8 flips and "
              "rotations of each image (x8 self-ensemble): a little better, 8x slower.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N, mps, auto.")
@click.option("--set", "options", multiple=True, metavar="KEY=VALUE",
              help="Method option, e.g. --set patch_size=7 (repeatable).")
@click.option("--max-pixels", type=click.IntRange(min=0), default=None,
              help="Refuse inputs with more pixels than this, checked from the header before "
                   "decoding (0 = no limit; default $RESTOREKIT_MAX_PIXELS, else 100000000).")
@click.option("-r", "--recursive", is_flag=True, help="Descend into sub-folders.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (never inputs).")
@click.option("--skip-existing", is_flag=True, help="Skip inputs whose output exists.")
def restore_command(inputs: tuple[str, ...], output: str | None, task: str, method: str,
                    scale: str | None, mask_path: str | None, weights: str | None,
                    sigma: float | None, tile: int | None, tile_overlap: int,
                    self_ensemble: bool, device: str, options: tuple[str, ...],
                    max_pixels: int | None, recursive: bool, overwrite: bool,
                    skip_existing: bool) -> int:
    """Restore INPUTS (files, folders or glob patterns) and write the results.

    With no option, each image goes through the shipped denoiser for its colour mode and the
    estimated noise level is printed.
    """
    from restorekit.api import check_fit, check_method, restore_task
    from restorekit.io import default_max_pixels

    state = get_state()
    read_options = {"max_pixels": default_max_pixels() if max_pixels is None else max_pixels}
    # An unknown name, or one that cannot do the task, fails once, before any file is read.
    check_method(method)
    if method != "auto":
        check_fit(method, task, weights, scale=int(scale) if scale else None)
    if task == "sr" and scale is None:
        raise click.UsageError("--task sr needs --scale 2, 3 or 4")
    if scale is not None and task != "sr":
        raise click.UsageError("--scale applies to --task sr")
    if sigma is not None and task != "denoise":
        raise click.UsageError("--sigma applies to --task denoise")
    if overwrite and skip_existing:
        raise click.UsageError("--overwrite and --skip-existing contradict each other; give one")
    mask = None
    if mask_path is not None:
        if task != "inpaint":
            raise click.UsageError("--mask applies to --task inpaint")
        from restorekit.io import read_image

        # Read like the inputs (EXIF orientation, pixel limit); api decides which pixels count.
        mask, _ = read_image(mask_path, max_pixels=read_options["max_pixels"])
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
    if _is_network(method, task, mask is not None):
        config.update({"tile": tile, "tile_overlap": tile_overlap, "self_ensemble": self_ensemble})
    elif self_ensemble or tile is not None:
        flag = "--self-ensemble" if self_ensemble else "--tile"
        what = "auto (biharmonic, with a mask)" if method == "auto" else method
        raise click.UsageError(f"{flag} applies to networks; {what} is not one")
    cache: dict[Any, Any] = {}

    def operation(image: np.ndarray, meta: Any, source: Path) -> tuple[np.ndarray, str]:
        quality = meta.jpeg_quality.quality if meta.jpeg_quality is not None else None
        out, info = restore_task(image, task, model=method, sigma=sigma,
                                 scale=int(scale) if scale else None, mask=mask,
                                 weights=weights, device=device, cache=cache, quality=quality,
                                 **config)
        how = f"method={info.method}"
        if info.sigma is not None:
            how += f" sigma={info.sigma:.2f}" + (" (estimated)" if info.sigma_estimated else "")
        if "note" in info.extra:
            how += f" ({info.extra['note']})"
        how += _jpeg_remark(meta.jpeg_quality, task)
        if "jpeg_quality_estimated" in info.extra:
            how += f" jpeg-quality~{info.extra['jpeg_quality_estimated']} (from its pixels)"
        return out, f"{how} {info.seconds:.2f}s"

    result = run_batch(jobs, operation, state, overwrite=overwrite,
                       skip_existing=skip_existing, verb="restored", read_options=read_options,
                       summarise=not cluster.distributed)
    if cluster.distributed:
        # One summary for the whole job, from rank 0, once every rank is done.
        result, total = gather_ranks(result, len(jobs))
        if cluster.is_main:
            summarise_batch(result, total, "restored", state)
    return result.exit_code


COMMANDS = [restore_command]
