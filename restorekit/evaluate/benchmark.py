"""Benchmarks: every restorer on every degraded image of every dataset, with PSNR/SSIM/time.

Noise is seeded per ``(seed, image index, degradation index)``, so the degraded inputs (and so
the numbers) are identical across runs and across restorers. The degraded input itself is
scored as the restorer ``"(input)"``. Restorers that use a noise level get none and estimate it
(blind), as ``restorekit restore`` does by default.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from restorekit.errors import RestorekitError

T = TypeVar("T")

#: Row label of the degraded input, scored as if it were a restorer.
INPUT_LABEL = "(input)"

ImageSource = str | os.PathLike | np.ndarray
DatasetSpec = str | os.PathLike | Sequence[ImageSource]
SkipHandler = Callable[[str, str], None]  # (file, reason) of an unreadable image


def _no_progress(items: Iterable[T]) -> Iterable[T]:
    return items


def dataset_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The image files of ``folder`` sorted by name; an error if it has none."""
    from restorekit.io import is_image_file

    path = Path(folder)
    if not path.is_dir():
        raise RestorekitError(f"dataset folder not found: {path}")
    files = sorted(p for p in path.iterdir() if p.is_file() and is_image_file(p))
    if not files:
        raise RestorekitError(f"dataset folder {path} has no images")
    return files


def load_images(source: DatasetSpec, *, limit: int | None = None,
                on_skip: SkipHandler | None = None) -> list[tuple[str, np.ndarray]]:
    """``(name, image)`` pairs from a folder, or a list of files and/or float arrays.

    ``limit`` keeps the first N readable images. A file that cannot be read raises, unless
    ``on_skip(path, reason)`` is given: then it is reported there and skipped (a source with no
    readable image still raises).
    """
    from restorekit.io import read_image

    if isinstance(source, (str, os.PathLike)):
        items: list[ImageSource] = list(dataset_files(source))
    else:
        items = list(source)
    if not items:
        raise RestorekitError("no images to evaluate")
    out = []
    for i, item in enumerate(items):
        if limit is not None and len(out) >= limit:
            break
        if isinstance(item, np.ndarray):
            out.append((f"#{i}", np.asarray(item, dtype=np.float32)))
            continue
        try:
            img, _ = read_image(item)
        except RestorekitError as exc:
            if on_skip is None:
                raise
            on_skip(str(item), str(exc))
            continue
        out.append((Path(item).name, img))
    if not out:
        raise RestorekitError(f"no readable images in {source}" if isinstance(
            source, (str, os.PathLike)) else "no readable images to evaluate")
    return out


def _check_restorers(restorers: Sequence[str]) -> None:
    from restorekit.api import check_method

    if not restorers:
        raise RestorekitError("no restorer given")
    if len(set(restorers)) != len(restorers):
        raise RestorekitError(f"restorer listed twice: {list(restorers)}")
    for name in restorers:
        check_method(name)  # UnknownNameError with suggestions


def run_benchmark(
    restorers: Sequence[str],
    degradations: Sequence[str],
    datasets: Mapping[str, DatasetSpec],
    *,
    seed: int = 0,
    y_channel: bool = False,
    crop_border: int = 0,
    limit: int | None = None,
    include_input: bool = True,
    progress: Callable[[Iterable[Any]], Iterable[Any]] = _no_progress,
    on_skip: SkipHandler | None = None,
) -> list[dict[str, Any]]:
    """One row per dataset image x degradation x restorer (``"(input)"`` first).

    ``restorers`` are shipped model names, registered methods, or ``ARCH@WEIGHTS`` (a network
    with its weights file). Row keys: dataset, image, degradation, restorer, psnr, ssim,
    seconds. ``datasets`` maps a
    name to a folder or a list of files/arrays; ``limit`` keeps the first N images of each.
    Bad names, specs or empty datasets raise :class:`RestorekitError` before any work; so does
    an unreadable image, unless ``on_skip`` takes it (see :func:`load_images`).
    """
    from restorekit.api import make_restorer, restore_with_info
    from restorekit.degrade import degrade, parse_spec
    from restorekit.metrics import psnr, ssim

    _check_restorers(restorers)
    if not degradations:
        raise RestorekitError("no degradation given")
    parsed = [parse_spec(spec) for spec in degradations]  # SpecError on a bad spec
    if not datasets:
        raise RestorekitError("no dataset given")
    loaded = {name: load_images(src, limit=limit, on_skip=on_skip)
              for name, src in datasets.items()}
    models = {name: make_restorer(name) for name in restorers}

    work = [(ds, i, name, img) for ds, imgs in loaded.items()
            for i, (name, img) in enumerate(imgs)]
    rows: list[dict[str, Any]] = []
    for ds, i, image_name, clean in progress(work):
        kw = {"y_channel": y_channel and clean.ndim == 3, "crop_border": crop_border}
        for j, (spec, deg) in enumerate(zip(degradations, parsed, strict=True)):
            rng = np.random.default_rng([seed, i, j])
            noisy, _ = degrade(clean, deg, rng)
            noisy = np.clip(np.asarray(noisy, dtype=np.float32), 0.0, 1.0)
            if noisy.shape != clean.shape:
                raise RestorekitError(f"degradation {spec!r} changes the image size "
                                      f"{clean.shape} -> {noisy.shape}; cannot score it")
            results: list[tuple[str, np.ndarray, float]] = []
            if include_input:
                results.append((INPUT_LABEL, noisy, 0.0))
            for name, model in models.items():
                out, info = restore_with_info(noisy, model)
                results.append((name, np.clip(out, 0.0, 1.0), info.seconds))
            for name, out, seconds in results:
                rows.append({"dataset": ds, "image": image_name, "degradation": spec,
                             "restorer": name, "psnr": psnr(out, clean, **kw),
                             "ssim": ssim(out, clean, **kw), "seconds": seconds})
    return rows


def summarize(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Mean psnr/ssim/seconds per (dataset, degradation, restorer), in first-seen order."""
    groups: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["degradation"], r["restorer"]), []).append(r)
    out = []
    for (ds, deg, name), grp in groups.items():
        n = len(grp)
        out.append({"dataset": ds, "degradation": deg, "restorer": name,
                    "psnr": sum(float(g["psnr"]) for g in grp) / n,
                    "ssim": sum(float(g["ssim"]) for g in grp) / n,
                    "seconds": sum(float(g["seconds"]) for g in grp) / n, "images": n})
    return out
