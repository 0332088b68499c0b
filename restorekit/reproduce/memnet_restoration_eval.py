"""Measuring for ``memnet-restoration``: test images, tables and figures.

Every number goes through :mod:`restorekit.evaluate.benchmark` / :mod:`restorekit.evaluate.sweep`
with methods given as ``ARCH@WEIGHTS``, so the degraded inputs are seeded per (seed, image,
degradation) and identical for every model; PSNR/SSIM are on the Y channel (the test images are
gray or converted to Y first) unless a table says RGB.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from restorekit.evaluate.report import new_figure, save_figure
from restorekit.reproduce.context import ReproContext

#: Test sets: gray folders as they are, Set5 converted to its Y channel, Set5 in colour.
TEST_SETS = {"set12": "set12", "classic5": "classic5", "set5-y": "set5", "set5": "set5"}


def test_images(ctx: ReproContext, name: str, limit: int | None,
                crop: int | None = None) -> list[np.ndarray]:
    """The first ``limit`` images of test set ``name`` as float32 arrays (Y for ``set5-y``),
    centre-cropped to ``crop`` pixels when given."""
    from restorekit.evaluate.benchmark import dataset_files
    from restorekit.io import read_image, rgb_to_y

    files = dataset_files(ctx.dataset(TEST_SETS[name]))[:limit]
    out = []
    for path in files:
        img, _ = read_image(path)
        if name == "set5-y" and img.ndim == 3:
            img = np.asarray(rgb_to_y(img[..., :3]), np.float32)
        if crop:
            top, left = max(0, (img.shape[0] - crop) // 2), max(0, (img.shape[1] - crop) // 2)
            img = img[top:top + crop, left:left + crop]
        out.append(np.asarray(img, np.float32))
    return out


def mean_rows(restorers: Mapping[str, str], degradations: Sequence[str],
              images: Sequence[np.ndarray], *, seed: int, crop: int, y_channel: bool = False,
              progress: Any = None) -> dict[tuple[str, str], dict[str, float]]:
    """Mean PSNR/SSIM/seconds per (label, degradation); ``restorers`` maps label -> method.

    The degraded input is scored as ``"input"``."""
    from restorekit.evaluate.benchmark import INPUT_LABEL, run_benchmark, summarize

    labels = {method: label for label, method in restorers.items()}
    labels[INPUT_LABEL] = "input"
    kw = {"progress": progress} if progress is not None else {}
    rows = run_benchmark(list(restorers.values()), list(degradations), {"test": list(images)},
                         seed=seed, crop_border=crop, y_channel=y_channel, **kw)
    return {(labels[r["restorer"]], r["degradation"]): r for r in summarize(rows)}


def restored_crops(restorers: Mapping[str, str], spec: str, image: np.ndarray, *, seed: int,
                   size: int) -> tuple[list[np.ndarray], list[str]]:
    """Centre crops of the clean, degraded and restored ``image`` for a comparison grid, with
    their PSNRs (the degradation seeded like the benchmark's first image)."""
    from restorekit.api import make_restorer, restore_with_info
    from restorekit.degrade import degrade
    from restorekit.metrics import psnr

    noisy, _ = degrade(image, spec, np.random.default_rng([seed, 0, 0]))
    noisy = np.clip(np.asarray(noisy, np.float32), 0, 1)
    outs = [image, noisy]
    for method in restorers.values():
        out, _ = restore_with_info(noisy, make_restorer(method))
        outs.append(np.clip(out, 0, 1))
    h, w = image.shape[:2]
    s = min(size, h, w)
    top, left = (h - s) // 2, (w - s) // 2
    captions = [""] + [f"{psnr(o, image):.2f} dB" for o in outs[1:]]
    return [o[top:top + s, left:left + s] for o in outs], captions


def write_grid(path: Path, rows: list[list[np.ndarray]], labels: Sequence[str],
               captions: list[list[str]], zoom: int = 2) -> Path:
    """A labelled comparison grid, each crop enlarged ``zoom`` times (nearest)."""
    from restorekit.evaluate.figures import comparison_grid
    from restorekit.io import write_image

    big = [[np.kron(c, np.ones((zoom, zoom), np.float32)) if c.ndim == 2
            else np.kron(c, np.ones((zoom, zoom, 1), np.float32)) for c in row] for row in rows]
    grid = comparison_grid(big, col_labels=list(labels), row_captions=captions)
    return write_image(path, grid, overwrite=True)




def plot_losses(path: Path, logs: Mapping[str, str | os.PathLike[str]], title: str) -> Path:
    """Training loss of several runs against step (log-y), one line each."""
    from restorekit.evaluate.report import read_loss_log

    fig = new_figure(6.5, 4.0)
    ax = fig.add_subplot()
    for label, csv_path in logs.items():
        rows = read_loss_log(csv_path)
        ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], lw=1.0, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_matrix(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str],
                col_labels: Sequence[str], title: str) -> Path:
    """Heat map of a cross-task matrix: PSNR gain over the input (dB), numbers in the cells."""
    base = next(r for r in rows if r["restorer"] == "input")
    models = [r for r in rows if r["restorer"] != "input"]
    gain = np.array([[float(r[c]) - float(base[c]) for c in columns] for r in models])
    fig = new_figure(1.6 * len(columns) + 2.5, 0.6 * len(models) + 2.0)
    ax = fig.add_subplot()
    lim = max(1.0, float(np.nanmax(np.abs(gain[np.isfinite(gain)])))) if np.isfinite(
        gain).any() else 1.0
    im = ax.imshow(gain, cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
    for i in range(gain.shape[0]):
        for j in range(gain.shape[1]):
            ax.text(j, i, f"{gain[i, j]:+.2f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(columns)), list(col_labels), fontsize=8)
    ax.set_yticks(range(len(models)), [r["restorer"] for r in models], fontsize=8)
    ax.set_xlabel("test degradation")
    ax.set_ylabel("model trained for")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, label="PSNR gain over input (dB)")
    return save_figure(fig, path)


def plot_depth(path: Path, rows: Sequence[Mapping[str, Any]], title: str) -> Path:
    """Ablation: PSNR against depth (convolutions), each point labelled MxRy."""
    fig = new_figure(6.5, 4.0)
    ax = fig.add_subplot()
    xs = [float(r["convs"]) for r in rows]
    ys = [float(r["psnr"]) for r in rows]
    ax.scatter(xs, ys)
    for r, x, y in zip(rows, xs, ys, strict=True):
        ax.annotate(str(r["model"]), (x, y), textcoords="offset points", xytext=(4, 4),
                    fontsize=8)
    ax.set_xlabel("depth (convolutions, M(2R+1)+2)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return save_figure(fig, path)


def fmt_db(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.2f}"


def plot_sweep_png(path: Path, rows: Sequence[Mapping[str, Any]], x: str, ys: Sequence[str],
                   title: str) -> Path:
    """:func:`restorekit.evaluate.report.plot_sweep` with the path first."""
    from restorekit.evaluate.report import plot_sweep

    return plot_sweep(rows, x, list(ys), path, title=title)
