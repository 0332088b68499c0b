"""The demo: damage bundled sample images several ways, restore each with the methods at hand,
and show a PSNR/SSIM table and a side-by-side comparison figure.

It uses scikit-image's bundled samples (``camera`` gray, ``astronaut`` colour), so it runs
offline on a fresh install.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEGRADATIONS = ("gaussian:sigma=25", "salt-pepper:amount=0.1", "poisson:peak=30", "jpeg:quality=10")
#: Classical methods shown by default, after ``auto`` (the shipped model for each damage); BM3D
#: joins when its optional package is installed.
METHODS = ("median", "gaussian-filter", "tv", "wavelet", "nlm")


@dataclass
class DemoResult:
    """Rows of the metric table and the comparison grid image."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    grid: np.ndarray | None = None


def sample_images(size: int = 192) -> dict[str, np.ndarray]:
    """Centre crops of scikit-image's camera (gray) and astronaut (RGB), float32 in [0, 1]."""
    from skimage import data

    def crop(img: np.ndarray, top: int, left: int) -> np.ndarray:
        return (img[top:top + size, left:left + size] / 255.0).astype(np.float32)

    return {"camera": crop(data.camera(), 60, 150), "astronaut": crop(data.astronaut(), 30, 140)}


def available_methods() -> list[str]:
    """``auto`` when models are shipped, the default classical methods, and BM3D if present."""
    import importlib.util

    from restorekit.zoo import zoo_models

    methods = (["auto"] if zoo_models() else []) + list(METHODS)
    if importlib.util.find_spec("bm3d") is not None:
        methods.append("bm3d")
    return methods


def _task_of(spec: str) -> str:
    """The restore task for a demo damage: deblocking for JPEG, denoising otherwise."""
    return "jpeg" if spec.startswith("jpeg") else "denoise"


def _fits(method: str, task: str) -> bool:
    from restorekit.api import check_fit
    from restorekit.errors import RestorekitError

    if method == "auto":
        return True
    try:
        check_fit(method, task)
    except RestorekitError:
        return False
    return True


def run_demo(*, size: int = 192, methods: list[str] | None = None, seed: int = 0,
             progress: Callable[[Any], Any] = lambda x: x) -> DemoResult:
    """Degrade each sample with every demo degradation, restore with every method, measure.

    ``auto`` restores each damage as ``restorekit restore`` would (the shipped denoiser, or the
    deblocker for the JPEG's quality). A named method does the damage's task when it can, else
    denoises (a classical denoiser on the JPEG row); a name that can do neither (an untrained
    network, an SR model) is refused before anything runs.
    """
    from restorekit.api import check_fit, check_method, restore_task
    from restorekit.degrade import degrade
    from restorekit.metrics import psnr, ssim

    methods = methods or available_methods()
    for m in methods:
        check_method(m)
        if not any(_fits(m, task) for task in ("jpeg", "denoise")):
            check_fit(m, "denoise")  # raises the reason
    cache: dict[Any, Any] = {}
    result = DemoResult()
    grid_rows, captions = [], []
    cases = [(name, img, spec) for name, img in sample_images(size).items()
             for spec in DEGRADATIONS]
    for i, (name, clean, spec) in enumerate(progress(cases)):
        noisy, _ = degrade(clean, spec, seed=seed + i)
        noisy = np.clip(noisy, 0, 1)
        row = [noisy]
        caption = [f"{psnr(noisy, clean):.2f} dB"]
        result.rows.append({"image": name, "degradation": spec, "method": "(input)",
                            "psnr": psnr(noisy, clean), "ssim": ssim(noisy, clean),
                            "seconds": 0.0})
        for method in methods:
            task = next((t for t in (_task_of(spec), "denoise") if _fits(method, t)), None)
            if task is None:  # e.g. a deblocker on a noise row: the input, unscored
                row.append(noisy)
                caption.append("-")
                continue
            out, info = restore_task(noisy, task, model=method, cache=cache)
            p, s = psnr(out, clean), ssim(out, clean)
            label = f"auto: {info.method}" if method == "auto" else method
            result.rows.append({"image": name, "degradation": spec, "method": label,
                                "psnr": p, "ssim": s, "seconds": info.seconds})
            row.append(out)
            caption.append(f"{p:.2f} dB")
        grid_rows.append([*row, clean])
        captions.append([*caption, f"{name}: {spec}"])
    from restorekit.evaluate.figures import comparison_grid

    result.grid = comparison_grid(grid_rows, col_labels=["input", *methods, "original"],
                                  row_captions=captions)
    return result
