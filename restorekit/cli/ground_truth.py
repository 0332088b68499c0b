"""``restorekit ground-truth``: a clean image from a burst of noisy shots of a static scene."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from restorekit.cli.files import check_side_output, expand_inputs
from restorekit.cli.state import get_state
from restorekit.errors import RestorekitError

ESTIMATORS = ("tukey", "mean", "median")


def _describe(image: np.ndarray) -> str:
    kind = "gray" if image.ndim == 2 else "RGB"
    return f"{image.shape[0]}x{image.shape[1]} {kind}"


def _check_output(out: Path, sources: list[Path], overwrite: bool,
                  report_path: Path | None) -> None:
    """Refuse a bad output before any frame is read (the estimate can take a while)."""
    from restorekit.io import IMAGE_SUFFIXES

    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise RestorekitError(f"-o {out}: unsupported suffix '{out.suffix}' "
                              f"(use one of {', '.join(IMAGE_SUFFIXES)})")
    check_side_output(out, "-o", inputs=sources, overwrite=overwrite)
    if report_path is not None:
        check_side_output(report_path, "--report", inputs=sources, outputs=[out],
                          overwrite=overwrite)


@click.command("ground-truth")
@click.argument("frames", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Where to write the estimated clean image (format from the suffix).")
@click.option("--reference", type=int, default=None,
              help="Index of the reference frame in the sorted input list (0 = first). "
                   "Default: the frame closest to the burst median.")
@click.option("--passes", type=click.IntRange(1, 5), default=2, show_default=True,
              help="Alignment/estimation passes (later ones register to the estimate).")
@click.option("--estimator", type=click.Choice(ESTIMATORS), default="tukey", show_default=True,
              help="Per-pixel estimate over the aligned frames.")
@click.option("--defect-threshold", type=click.FloatRange(min=0, min_open=True), default=4.0,
              show_default=True, help="Robust z-score above which a pixel is defective.")
@click.option("--outlier-z", type=click.FloatRange(min=0, min_open=True), default=3.5,
              show_default=True, help="Robust z-score above which a frame is dropped.")
@click.option("--no-defects", is_flag=True, help="Skip defective-pixel correction.")
@click.option("--no-align", is_flag=True, help="Skip translation alignment.")
@click.option("--no-intensity", is_flag=True, help="Skip gain/offset alignment.")
@click.option("--keep-outliers", is_flag=True, help="Never drop frames.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False),
              help="Also write what was found (defects, shifts, gains, dropped frames) as JSON.")
@click.option("--bit-depth", type=click.Choice(["8", "16"]),
              help="Output bit depth (default: the reference frame's).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output (never an input).")
def ground_truth_command(frames: tuple[str, ...], output: str, reference: int | None,
                         passes: int, estimator: str, defect_threshold: float,
                         outlier_z: float, no_defects: bool, no_align: bool,
                         no_intensity: bool, keep_outliers: bool, report_path: str | None,
                         bit_depth: str | None, overwrite: bool) -> int:
    """Estimate the clean image behind FRAMES, a burst of noisy shots of one static scene.

    FRAMES are files, folders or glob patterns (sorted by name). The SIDD pipeline: correct
    defective pixels, align translations to a reference frame, align intensities, drop outlier
    frames, and take a robust per-pixel estimate. One summary line per stage goes to stderr, and a
    warning (even with --quiet) when the scene has too little texture to trust its shifts.
    """
    from restorekit.atomic import atomic_write_text
    from restorekit.ground_truth import WARNING, estimate_ground_truth
    from restorekit.io import read_image, write_image

    state = get_state()
    sources = [src for src, _ in expand_inputs(list(frames))]
    if len(sources) < 2:
        found = "no image files" if not sources else f"only 1 frame ({sources[0]})"
        raise RestorekitError(f"ground-truth needs at least 2 frames, got {found}")
    if reference is not None and not 0 <= reference < len(sources):
        raise RestorekitError(f"--reference {reference} out of range: {len(sources)} frames "
                              f"(0..{len(sources) - 1})")
    out = Path(output)
    report_file = Path(report_path) if report_path else None
    _check_output(out, sources, overwrite, report_file)

    images: list[np.ndarray] = []
    metas = []
    for src in state.progress(sources, desc="Reading", leave=False):
        image, meta = read_image(src)
        if images and image.shape != images[0].shape:
            raise RestorekitError(f"{src} is {_describe(image)} but {sources[0]} is "
                                  f"{_describe(images[0])}; all frames must match")
        images.append(image)
        metas.append(meta)

    estimate, report = estimate_ground_truth(
        images, reference=reference, passes=passes, estimator=estimator,
        defect_threshold=defect_threshold, outlier_z=outlier_z,
        correct_defective=not no_defects, align=not no_align,
        align_intensity=not no_intensity, drop_outliers=not keep_outliers,
        log=lambda line: state.warn(line.removeprefix(WARNING)) if line.startswith(WARNING)
        else state.status(line),
    )
    ref_meta = metas[report.reference]
    write_image(out, estimate, ref_meta, bit_depth=int(bit_depth) if bit_depth else None,
                overwrite=overwrite)
    if report_file is not None:
        data = {"frames": [str(s) for s in sources], "output": str(out), **report.to_dict()}
        atomic_write_text(report_file, json.dumps(data, indent=1) + "\n")
    dropped = ", ".join(sources[t].name for t in report.dropped) or "none"
    state.status(f"wrote {out} from {len(report.kept)} of {len(sources)} frames "
                 f"(reference {sources[report.reference].name}; dropped: {dropped})")
    return 0


COMMANDS = [ground_truth_command]
