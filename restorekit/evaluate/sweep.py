"""Parameter sweeps (one restorer across a degradation strength) and cross-task matrices.

Both reuse :func:`restorekit.evaluate.benchmark.run_benchmark`, so their degraded inputs are
seeded the same way and their numbers agree with a benchmark of the same images.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from restorekit.errors import SpecError
from restorekit.evaluate.benchmark import (
    INPUT_LABEL,
    DatasetSpec,
    SkipHandler,
    _no_progress,
    run_benchmark,
    summarize,
)

_DS = "images"


def fill_template(template_spec: str, value: Any) -> str:
    """``template_spec`` with its one ``{}`` replaced by ``value`` (integral floats as ints)."""
    if template_spec.count("{}") != 1:
        raise SpecError(f"sweep spec {template_spec!r} needs exactly one '{{}}' for the value")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return template_spec.replace("{}", str(value))


def sweep(
    restorer: str,
    template_spec: str,
    values: Sequence[Any],
    images: DatasetSpec,
    *,
    seed: int = 0,
    y_channel: bool = False,
    crop_border: int = 0,
    include_input: bool = False,
    progress: Callable[[Iterable[Any]], Iterable[Any]] = _no_progress,
    on_skip: SkipHandler | None = None,
) -> list[dict[str, Any]]:
    """Mean PSNR/SSIM of ``restorer`` over ``images`` for each value of the template.

    E.g. ``sweep("median", "gaussian:sigma={}", [5, 15, 25, 50], folder)`` gives rows
    ``{"value", "spec", "psnr", "ssim", "seconds"}`` in the order of ``values``; with
    ``include_input`` each row also has ``input_psnr`` and ``input_ssim`` (the degraded input).
    Unreadable images raise, or go to ``on_skip`` (see :func:`~.benchmark.load_images`).
    """
    if not values:
        raise SpecError("no sweep values given")
    specs = [fill_template(template_spec, v) for v in values]
    if len(set(specs)) != len(specs):
        raise SpecError(f"sweep values repeat: {list(values)}")
    rows = run_benchmark([restorer], specs, {_DS: images}, seed=seed, y_channel=y_channel,
                         crop_border=crop_border, include_input=include_input,
                         progress=progress, on_skip=on_skip)
    means = {(r["degradation"], r["restorer"]): r for r in summarize(rows)}
    out = []
    for value, spec in zip(values, specs, strict=True):
        m = means[(spec, restorer)]
        row = {"value": value, "spec": spec, "psnr": m["psnr"], "ssim": m["ssim"],
               "seconds": m["seconds"]}
        if include_input:
            row["input_psnr"] = means[(spec, INPUT_LABEL)]["psnr"]
            row["input_ssim"] = means[(spec, INPUT_LABEL)]["ssim"]
        out.append(row)
    return out


def cross_task_matrix(
    restorers: Sequence[str],
    degradations: Sequence[str],
    images: DatasetSpec,
    *,
    seed: int = 0,
    y_channel: bool = False,
    crop_border: int = 0,
    metric: str = "psnr",
    include_input: bool = True,
    progress: Callable[[Iterable[Any]], Iterable[Any]] = _no_progress,
) -> list[dict[str, Any]]:
    """One row per restorer (``"(input)"`` first), one column per degradation: mean ``metric``.

    The MemNet study's "model trained for task A tested on task B" table.
    """
    if metric not in ("psnr", "ssim", "seconds"):
        raise ValueError(f"unknown metric {metric!r}")
    rows = run_benchmark(restorers, degradations, {_DS: images}, seed=seed,
                         y_channel=y_channel, crop_border=crop_border,
                         include_input=include_input, progress=progress)
    means = {(r["restorer"], r["degradation"]): r[metric] for r in summarize(rows)}
    names = ([INPUT_LABEL] if include_input else []) + list(restorers)
    return [{"restorer": name, **{spec: means[(name, spec)] for spec in degradations}}
            for name in names]
