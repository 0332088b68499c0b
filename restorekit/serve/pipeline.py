"""One restore as the server runs it: validate the form fields, restore, report progress.

The model must be ``auto`` or one of :func:`restorekit.api.task_models` for the task, so a
client can never name a weights file (``ARCH@PATH``) or anything else on the server's disk.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from restorekit.api import SR_SCALES, TASKS
from restorekit.errors import RestorekitError
from restorekit.serve.errors import BadRequest

NOISE_CROP = 1024  # the displayed noise level is estimated on a centre crop this size at most

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RestoreRequest:
    """Validated form fields of a restore request."""

    task: str = "denoise"
    model: str = "auto"
    sigma: float | None = None
    scale: int | None = None


def available_models(task: str) -> list[str]:
    """Model names a client may choose for ``task`` (``auto`` not included).

    Shipped (trained) models and classical methods; a registered network without shipped
    weights would restore with random weights, so it is not offered.
    """
    from restorekit import api
    from restorekit.restorers.base import get_entry

    names = api.task_models(task)
    try:
        from restorekit.zoo import zoo_models

        shipped = set(zoo_models())
    except ImportError:  # pragma: no cover - the zoo is part of restorekit
        shipped = set()
    usable = []
    for name in dict.fromkeys(names):
        if name in shipped or name in api.TASK_INTERPOLATIONS:
            usable.append(name)
            continue
        try:
            if get_entry(name).kind == "classical":
                usable.append(name)
        except RestorekitError:
            continue
    return usable


def parse_request(task: str | None, model: str | None, sigma: str | None,
                  scale: str | None) -> RestoreRequest:
    """Check the form fields; one clear :class:`BadRequest` for anything wrong."""
    task = (task or "denoise").strip().lower()
    if task not in TASKS:
        raise BadRequest(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    model = (model or "auto").strip()
    if model != "auto" and model not in available_models(task):
        raise BadRequest(f"unknown model {model!r} for task {task!r}; GET /api/models lists "
                         "the choices")
    sigma_value = _number("sigma", sigma)
    if sigma_value is not None and not 0 <= sigma_value <= 255:
        raise BadRequest(f"sigma must be between 0 and 255, got {sigma_value:g}")
    if sigma_value is not None and task != "denoise":
        raise BadRequest(f"sigma applies to task denoise, not {task}")
    raw = _number("scale", scale)
    choices = ", ".join(map(str, SR_SCALES))
    if task != "sr":  # as the command line: a scale for another task is a mistake, not ignored
        if raw is not None:
            raise BadRequest(f"scale applies to task sr, not {task}")
        return RestoreRequest(task, model, sigma_value, None)
    if raw is None:
        raise BadRequest(f"task sr needs a scale: one of {choices}")
    if raw != int(raw) or int(raw) not in SR_SCALES:
        raise BadRequest(f"scale must be one of {choices}, got {scale}")
    return RestoreRequest(task, model, sigma_value, int(raw))


def _number(name: str, text: str | None) -> float | None:
    if text is None or not str(text).strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadRequest(f"{name} must be a number, got {text!r}") from None
    if not np.isfinite(value):
        raise BadRequest(f"{name} must be a finite number, got {text!r}")
    return value


def result_pixels(width: int, height: int, request: RestoreRequest) -> int:
    """Pixels of the result (super-resolution multiplies them by scale squared)."""
    factor = request.scale if request.task == "sr" and request.scale else 1
    return width * height * factor * factor


_thread_lock = threading.Lock()
_threads_set = False


def limit_torch_threads(workers: int) -> None:
    """Share the cores between concurrent workers instead of oversubscribing them (once)."""
    global _threads_set
    with _thread_lock:
        if _threads_set or workers <= 1:
            return
        _threads_set = True
        import os

        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


class _Relay:
    """A progress callable whose target changes per job, so cached restorers report right."""

    def __init__(self) -> None:
        self.target: Progress | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.target is not None:
            self.target(done, total)


_local = threading.local()


def _worker_cache() -> tuple[dict[Any, Any], _Relay]:
    """Restorers built by this worker thread (never shared between threads), and its relay."""
    if not hasattr(_local, "cache"):
        _local.cache, _local.relay = {}, _Relay()
    return _local.cache, _local.relay


def run_restore(image: np.ndarray, request: RestoreRequest, *, mask: np.ndarray | None = None,
                device: str | None = None, progress: Progress | None = None,
                estimated_sigma: float | None = None,
                jpeg_quality: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Restore ``image`` as asked; returns the result and a JSON-ready info dict.

    Networks are built once per worker thread and reused; they report progress per tile.
    ``estimated_sigma``, the whole image's noise estimate when already made, saves denoising
    from estimating it a second time (it is reported as estimated). ``jpeg_quality``, read
    from an uploaded JPEG's tables, picks the deblocker made for it (without it ``restore_task``
    estimates the quality from the pixels).
    """
    from restorekit import api

    start = time.perf_counter()
    channels = 1 if image.ndim == 2 else image.shape[-1]
    reuse = request.task == "denoise" and request.sigma is None and estimated_sigma is not None
    if reuse:
        request = RestoreRequest(request.task, request.model, estimated_sigma, request.scale)
    cache, relay = _worker_cache()
    kwargs: dict[str, Any] = dict(model=request.model, sigma=request.sigma,
                                  scale=request.scale, mask=mask, device=device, cache=cache,
                                  quality=jpeg_quality)
    name = request.model
    if name == "auto" and request.task != "inpaint":
        name = api.resolve_method("auto", channels, request.task, request.scale, jpeg_quality)
    if api.is_network(name):
        relay.target = progress
        kwargs["progress"] = relay
    try:
        out, info = api.restore_task(image, request.task, **kwargs)
    finally:
        relay.target = None
    extra = {k: v for k, v in (info.extra or {}).items()
             if isinstance(v, (str, int, float, bool)) and k not in ("task", "scale")}
    return out, {
        "task": request.task,
        "method": info.method,
        "sigma": info.sigma,
        "sigma_estimated": bool(info.sigma_estimated or (reuse and info.sigma is not None)),
        "scale": request.scale,
        "seconds": round(time.perf_counter() - start, 3),
        "width": int(out.shape[1]),
        "height": int(out.shape[0]),
        "note": str(extra.pop("note", "")),
        "extra": extra,
    }


def noise_level(image: np.ndarray) -> float | None:
    """Estimated Gaussian noise std (0-255 scale) of a centre crop, for display.

    The crop is the whole image when it is at most ``NOISE_CROP`` pixels on each side.
    """
    from restorekit.noise_estimation import estimate_sigma

    h, w = image.shape[:2]
    top, left = max(0, (h - NOISE_CROP) // 2), max(0, (w - NOISE_CROP) // 2)
    crop = image[top:top + NOISE_CROP, left:left + NOISE_CROP]
    try:
        return float(estimate_sigma(crop))
    except Exception:  # noqa: BLE001 - an estimate that cannot be made is simply not shown
        return None
