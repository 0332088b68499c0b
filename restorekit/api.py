"""The one-call Python API: ``restore(image)`` does what ``restorekit restore`` does.

``method="auto"`` picks the best method available here: a shipped pretrained network for the
image's channel count when the zoo has one, else BM3D when the optional package is installed,
else non-local means. Noise levels are on the 0-255 scale and estimated when not given.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from restorekit.errors import RestorekitError
from restorekit.restorers.base import Restorer, get_entry, load_restorer

#: Classical fallbacks for ``method="auto"``, best first; the first one importable wins.
AUTO_FALLBACKS = ("bm3d", "nlm")
#: What ``restore_task`` can do.
TASKS = ("denoise", "jpeg", "sr", "inpaint")
SR_SCALES = (2, 3, 4)
#: Interpolations ``restore_task`` runs itself for one task each (not registered restorers:
#: they need the task's own input, a scale or a mask): name -> (task, what it does, paper).
TASK_INTERPOLATIONS = {
    "bicubic": ("sr", "upscaling by bicubic interpolation alone",
                "Keys, Cubic convolution interpolation for digital image processing, IEEE TASSP "
                "1981 (a = -0.5, as MATLAB's imresize)"),
    "biharmonic": ("inpaint", "biharmonic interpolation of the masked pixels (scikit-image)",
                   "Damelin & Hoang, On surface completion and image inpainting by biharmonic "
                   "functions, IJMMS 2018"),
}


@dataclass
class RestoreInfo:
    """What a restore call did, for the CLI to report and for reports to record."""

    method: str
    sigma: float | None = None
    sigma_estimated: bool = False
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _bm3d_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("bm3d") is not None


def _zoo() -> Any:
    """The zoo module, or None when this install ships no weights."""
    try:
        import restorekit.zoo as zoo
    except ImportError:  # pragma: no cover - the zoo is part of restorekit
        return None
    return zoo


def _is_zoo_name(method: str | None) -> bool:
    zoo = _zoo()
    return bool(method) and zoo is not None and method in zoo.zoo_models()


def is_network(method: str | None) -> bool:
    """Whether a concrete method (shipped model, registered name or ``ARCH@WEIGHTS``) is a
    network, so tiling and progress options apply to it."""
    if not method or method == "auto":
        return False
    if _is_zoo_name(method):
        return True
    try:
        return get_entry(method.partition("@")[0]).kind == "network"
    except RestorekitError:
        return False


def _arch_of(weights: str) -> str:
    """The architecture named by the model card beside ``weights``."""
    from restorekit.weights import read_card

    card = read_card(weights)
    if card is None:
        raise RestorekitError(f"{weights}: no model card beside it; name its architecture "
                              "with --model ARCH")
    return str(card["arch"])


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise RestorekitError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")


def check_method(method: str) -> None:
    """Raise one clear error unless ``method`` names a shipped model, a registered method or
    ``ARCH@WEIGHTS`` (a registered network with a weights file)."""
    if method in (None, "", "auto"):
        return
    if not isinstance(method, str):
        raise RestorekitError(f"method must be a name (see `restorekit models`) or a Restorer, "
                              f"not {type(method).__name__}")
    name, _, weights = method.partition("@")
    zoo = _zoo()
    if not weights and zoo is not None and name in zoo.zoo_models():
        return
    if not weights and name in TASK_INTERPOLATIONS:
        return
    get_entry(name)  # raises with suggestions for unknown names
    if weights and not Path(weights).is_file():
        raise RestorekitError(f"{method}: weights file {weights!r} not found")


def resolve_method(method: str | Restorer | None, channels: int = 1, task: str = "denoise",
                   scale: int | None = None, quality: int | None = None
                   ) -> str | Restorer | None:
    """Turn ``"auto"``/None into a concrete method for ``task`` on ``channels``-channel images.

    Auto picks the shipped model for the task (for JPEG, the one made for the input's
    ``quality`` when known), else (denoising only) BM3D when installed, else non-local means.
    For other tasks without a shipped model it returns None. A :class:`Restorer` already built
    passes through.
    """
    _check_task(task)
    if isinstance(method, Restorer):
        return method
    if method not in (None, "", "auto"):
        check_method(method)
        return method
    zoo = _zoo()
    name = zoo.default_model(task, channels, scale, quality) if zoo is not None else None
    if name:
        return name
    if task != "denoise":
        return None
    return AUTO_FALLBACKS[0] if _bm3d_available() else AUTO_FALLBACKS[-1]


def task_models(task: str) -> list[str]:
    """Method names usable for ``task``: shipped models first, then registered methods."""
    _check_task(task)
    from restorekit.restorers.base import list_restorers

    zoo = _zoo()
    shipped = [m.name for m in zoo.zoo_models().values() if m.task == task] if zoo else []
    registered = [e.name for e in list_restorers() if task in e.tasks]
    own = [n for n, (t, *_) in TASK_INTERPOLATIONS.items() if t == task]
    return shipped + registered + own


def check_fit(method: str, task: str, weights: str | None = None,
              scale: int | None = None) -> None:
    """Refuse a method that cannot do ``task``, or a network with no trained weights.

    A shipped model does its own task only (and, given a ``scale``, the SR scales its card
    names); a classical method the tasks it is registered for; a registered network needs
    weights (``weights`` or ``ARCH@WEIGHTS``), and with them does whatever they were trained
    for.
    """
    name, _, at_weights = method.partition("@")
    weights = weights or at_weights or None
    if name in TASK_INTERPOLATIONS and weights is None:
        own = TASK_INTERPOLATIONS[name][0]
        if own != task:
            raise RestorekitError(f"{name} does {own} only (--task {own}); for {task}: "
                                  f"{', '.join(task_models(task)) or 'none'}")
        return
    zoo = _zoo()
    if zoo is not None and name in zoo.zoo_models():
        if weights is not None:  # other weights for that model's architecture: theirs to say
            return
        shipped = zoo.zoo_models()[name]
        if shipped.task != task:
            raise RestorekitError(f"{name} is a {shipped.task} model, not a {task} one (for "
                                  f"{task}: {', '.join(task_models(task)) or 'none'})")
        if not shipped.serves(task, scale):
            _refuse_scale(name, shipped.scales, scale)
        return
    entry = get_entry(name)
    if entry.kind == "network":
        if weights is None:
            raise RestorekitError(f"{name} has no shipped weights and would run untrained: "
                                  f"give trained weights (--weights FILE or {name}@FILE)")
    elif task not in entry.tasks:
        raise RestorekitError(f"{name} cannot do {task} (it does {', '.join(entry.tasks)}); "
                              f"for {task}: {', '.join(task_models(task)) or 'none'}")


def make_restorer(method: str | Restorer | None = "auto", *, image_channels: int = 1,
                  weights: str | None = None, device: str | None = None, task: str = "denoise",
                  **options: Any) -> Restorer:
    """Build a :class:`Restorer` once (the CLI reuses it across a batch).

    ``method`` is ``auto``, a shipped model (``restorekit models``), a registered method, or
    ``ARCH@WEIGHTS``; ``auto`` picks by ``task`` and ``image_channels``. ``options`` are the
    method's own (a network's architecture config, tiling, a filter's parameters). A
    :class:`Restorer` already built is returned as it is.
    """
    if isinstance(method, Restorer):
        if weights is not None or options:
            raise RestorekitError("weights and options apply to a method name, not to a "
                                  "Restorer already built")
        return method
    if weights is not None and (method in (None, "", "auto") or _is_zoo_name(method)):
        arch = _arch_of(weights)  # the weights' own architecture, from their model card
        if method not in (None, "", "auto"):
            shipped = _zoo().zoo_models()[method].arch
            if arch != shipped:
                raise RestorekitError(f"{weights} holds {arch} weights but {method} is a "
                                      f"{shipped}: give {shipped} weights, or --model {arch}")
        method = arch
    name = resolve_method(method, image_channels, task)
    if name is None:
        raise RestorekitError(f"no {task} model is shipped yet: name a network and give its "
                              "trained weights")
    name, _, at_weights = name.partition("@")
    weights = weights or at_weights or None
    if options.get("self_ensemble"):
        from restorekit.restorers.self_ensemble import content_grid

        options.setdefault("content_grid", content_grid(task))  # e.g. JPEG's block grid
    zoo = _zoo()
    if weights is None and zoo is not None and name in zoo.zoo_models():
        return zoo.load_zoo_restorer(name, device=device, **options)
    return load_restorer(name, weights=weights, device=device, **options)


def restore_with_info(image: np.ndarray, restorer: Restorer,
                      sigma: float | None = None) -> tuple[np.ndarray, RestoreInfo]:
    """Restore ``image`` with ``restorer``, estimating sigma first when the method uses one."""
    info = RestoreInfo(method=restorer.name or type(restorer).__name__)
    if restorer.uses_sigma:
        if sigma is None:
            from restorekit.noise_estimation import estimate_sigma

            sigma = float(estimate_sigma(image))
            info.sigma_estimated = True
        info.sigma = float(sigma)
    start = time.perf_counter()
    out = restorer.restore(image, sigma=sigma)
    info.seconds = time.perf_counter() - start
    return out, info


def _image_channels(image: np.ndarray) -> int:
    return 1 if image.ndim == 2 else int(image.shape[-1])


def _check_mask(mask: Any, image: np.ndarray) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[-1] in (1, 3, 4):
        m = m[..., 0]
    if m.shape != image.shape[:2]:
        raise RestorekitError(f"the mask is {m.shape[1]}x{m.shape[0]} but the image is "
                              f"{image.shape[1]}x{image.shape[0]}")
    m = m > (0.5 if m.dtype.kind == "f" else 0)
    if not m.any():
        raise RestorekitError("the mask marks no missing pixels (white/non-zero = missing)")
    if m.all():
        raise RestorekitError("the mask marks every pixel missing: there is nothing to fill "
                              "the holes from")
    return m


def _inpaint_classical(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Biharmonic inpainting (scikit-image): smooth fill of the masked pixels."""
    from skimage.restoration import inpaint_biharmonic

    out = inpaint_biharmonic(image, mask, channel_axis=-1 if image.ndim == 3 else None)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def restore_task(image: np.ndarray, task: str = "denoise", *,
                 model: str | Restorer | None = "auto",
                 sigma: float | None = None, scale: int | None = None, mask: Any = None,
                 weights: str | None = None, device: str | None = None,
                 cache: dict[Any, Restorer] | None = None, quality: int | None = None,
                 **options: Any) -> tuple[np.ndarray, RestoreInfo]:
    """Restore ``image`` for one task and say how; the engine behind ``restorekit restore``.

    ``cache`` (a dict the caller keeps) reuses restorers across calls, so a batch loads each
    model once.

    - ``denoise``: the shipped denoiser for the image's channels (sigma estimated unless given),
      or any method named by ``model``;
    - ``jpeg``: remove JPEG blocking with a deblocking model; ``quality``, the JPEG quality the
      image was saved at (``read_image(path)[1].jpeg_quality``), picks a model made for it;
      without it the quality is estimated from the pixels (a PNG that was a JPEG once);
    - ``sr``: upscale by ``scale`` (2, 3 or 4): bicubic, refined by a super-resolution model when
      one is shipped or named (the VDSR/MemNet protocol: the net restores the bicubic upscale;
      on colour images only Y goes through a gray net); ``model="bicubic"``: interpolation only;
    - ``inpaint``: fill the pixels where ``mask`` (HxW, non-zero = missing) is set, by
      biharmonic interpolation or a named network; a shipped inpainter made for one image size
      (the MNIST lower-half model) runs without a mask on images of that size.
    """
    from restorekit.io import to_float32

    _check_task(task)
    if sigma is not None and task != "denoise":
        raise RestorekitError(f"a noise level (sigma) applies to denoising, not to task {task!r}")
    if quality is not None and not 1 <= quality <= 100:
        raise RestorekitError(f"a JPEG quality is 1-100, not {quality}")
    image = to_float32(np.asarray(image), clip=False)  # unclipped noise stays informative
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (1, 3)):
        raise RestorekitError(
            f"expected an HxW or HxWxC image with C = 1 or 3, got shape {image.shape} (a "
            "channel-first array needs np.moveaxis(a, 0, -1); keep an alpha channel aside)")
    if not np.isfinite(image).all():
        raise RestorekitError("the image has NaN or infinite values")
    channels = _image_channels(image)
    start = time.perf_counter()

    def build(name: str | Restorer | None) -> Restorer:
        if isinstance(name, Restorer):
            return make_restorer(name, weights=weights, **options)
        key = (task, channels, name, weights, device)
        if cache is not None and key in cache:
            return cache[key]
        if isinstance(name, str) and name not in ("", "auto"):
            check_fit(name, task, weights, scale=scale)
        restorer = make_restorer(name, image_channels=channels, weights=weights,
                                 device=device, task=task, **options)
        if cache is not None:
            cache[key] = restorer
        return restorer

    if task == "denoise":
        out, info = restore_with_info(image, build(model), sigma=sigma)
    elif task == "jpeg":
        estimated = None
        if weights is None and model in (None, "", "auto"):
            if quality is None:
                from restorekit.jpeg_quality import estimate_quality

                estimated = estimate_quality(image)
                quality = estimated.quality if estimated else None
            model = resolve_method(model, channels, task, quality=quality)
        out, info = restore_in_ycbcr(image, build(model), luma_only=False)
        if estimated is not None:
            info.extra["jpeg_quality_estimated"] = estimated.quality
    elif task == "sr":
        if scale not in SR_SCALES:
            raise RestorekitError(f"super-resolution needs a scale of 2, 3 or 4, not {scale}")
        from restorekit.degrade.resample import upscale

        image = np.clip(upscale(image, scale, "bicubic"), 0.0, 1.0).astype(np.float32)
        name = (None if model == "bicubic" and weights is None
                else resolve_method(model, channels, "sr", scale) if weights is None
                else _arch_of(weights) if model in (None, "", "auto") else model)
        if name is None and model == "bicubic":
            out, info = image, RestoreInfo(method="bicubic")
        elif name is None:
            out, info = image, RestoreInfo(method="bicubic", extra={
                "note": "no super-resolution model is shipped yet: bicubic interpolation only"})
        else:
            restorer = build(name)
            _check_scale_fits(restorer, scale)
            out, info = restore_in_ycbcr(image, restorer, luma_only=True)
        info.extra["scale"] = scale
    else:
        out, info = _inpaint(image, model, mask, weights=weights, build=build,
                             self_ensemble=bool(options.get("self_ensemble")))
    info.extra["task"] = task
    info.seconds = time.perf_counter() - start
    return out, info


def _check_scale_fits(restorer: Restorer, scale: int) -> None:
    """Refuse a super-resolution net made for one scale factor (its ``scale``) at another."""
    own = getattr(getattr(restorer, "net", None), "scale", None)
    if isinstance(own, int) and own != scale:
        _refuse_scale(restorer.name, (own,), scale)


def _refuse_scale(name: str | None, made: tuple[int, ...], scale: int | None) -> NoReturn:
    raise RestorekitError(f"{name} restores {'/'.join(f'x{s}' for s in made)} upscaling only, "
                          f"not x{scale} (for x{scale}: --model auto or one made for x{scale})")


def restore_in_ycbcr(image: np.ndarray, restorer: Restorer,
                      luma_only: bool) -> tuple[np.ndarray, RestoreInfo]:
    """Run a gray (Y-trained) deblocking or SR net on a colour image in YCbCr, as JPEG codes it.

    ``luma_only`` (SR, the VDSR/MemNet convention) restores Y and keeps the bicubic chroma;
    otherwise (JPEG) Y, Cb and Cr each go through the net. Other images and nets pass through.
    """
    if image.ndim != 3 or image.shape[-1] != 3 or getattr(restorer, "in_channels", 0) != 1:
        return restore_with_info(image, restorer)
    from restorekit.io import rgb_to_ycbcr, ycbcr_to_rgb

    ycc = np.asarray(rgb_to_ycbcr(image), dtype=np.float32)
    if luma_only:
        ycc[..., 0], info = restore_with_info(np.ascontiguousarray(ycc[..., 0]), restorer)
    else:
        ycc, info = restore_with_info(ycc, restorer)
    info.extra["colour"] = "YCbCr, " + ("Y restored" if luma_only else "each channel restored")
    return np.clip(ycbcr_to_rgb(ycc), 0.0, 1.0).astype(np.float32), info


def _inpaint(image: np.ndarray, model: str | None, mask: Any, *, weights: str | None,
             build: Any, self_ensemble: bool = False) -> tuple[np.ndarray, RestoreInfo]:
    channels = _image_channels(image)
    if mask is None:
        if self_ensemble:
            raise RestorekitError("--self-ensemble does not apply to inpainting without a mask: "
                                  "flips and turns would move the region the inpainter fills")
        zoo = _zoo()
        name = (resolve_method(model, channels, "inpaint") if weights is None
                else _arch_of(weights) if model in (None, "", "auto") else model)
        shipped = zoo.zoo_models().get(name or "") if zoo is not None else None
        size = tuple(shipped.card["zoo"].get("image_size", ())) if shipped else ()
        if not (name and (weights or (size and tuple(image.shape[:2]) == size))):
            raise RestorekitError("inpainting needs a mask (--mask FILE: white/non-zero = "
                                  "missing)")
        return restore_with_info(image, build(name))
    m = _check_mask(mask, image)
    if model in (None, "", "auto", "biharmonic"):
        if self_ensemble:
            raise RestorekitError("--self-ensemble applies to networks; inpainting with a mask "
                                  "uses biharmonic interpolation unless a network is named")
        return _inpaint_classical(image, m), RestoreInfo(method="biharmonic",
                                                         extra={"missing": int(m.sum())})
    holed = image.copy()
    holed[m] = 0.0
    out, info = restore_with_info(holed, build(model))
    out = np.where(m[..., None] if image.ndim == 3 else m, out, image).astype(np.float32)
    info.extra["missing"] = int(m.sum())
    return out, info


def restore(image: np.ndarray, method: str | Restorer | None = "auto", *,
            task: str = "denoise", sigma: float | None = None, scale: int | None = None,
            mask: Any = None, weights: str | None = None, device: str | None = None,
            quality: int | None = None, **options: Any) -> np.ndarray:
    """Restore a float image in [0, 1] (HxW or HxWxC) for ``task`` (see :func:`restore_task`).

    Float values outside [0, 1] (noise added without clipping, the AWGN benchmark convention)
    are passed on as they are; integer images are scaled by their dtype's maximum.

    The result has the input's shape (``scale`` times larger for ``task="sr"``).

    >>> import numpy as np, restorekit
    >>> noisy = np.clip(0.5 + np.random.default_rng(0).normal(0, 0.1, (32, 32)), 0, 1)
    >>> restorekit.restore(noisy.astype(np.float32), method="gaussian-filter").shape
    (32, 32)
    """
    out, _ = restore_task(image, task, model=method, sigma=sigma, scale=scale, mask=mask,
                          weights=weights, device=device, quality=quality, **options)
    return out
