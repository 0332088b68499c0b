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
#: Methods shown by default; BM3D joins when its optional package is installed.
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
    """The default methods plus BM3D and shipped networks when present."""
    import importlib.util

    methods = list(METHODS)
    if importlib.util.find_spec("bm3d") is not None:
        methods.append("bm3d")
    return methods


def run_demo(*, size: int = 192, methods: list[str] | None = None, seed: int = 0,
             progress: Callable[[Any], Any] = lambda x: x) -> DemoResult:
    """Degrade each sample with every demo degradation, restore with every method, measure."""
    from restorekit.api import restore_with_info
    from restorekit.degrade import degrade
    from restorekit.metrics import psnr, ssim
    from restorekit.restorers.base import load_restorer

    methods = methods or available_methods()
    restorers = {m: load_restorer(m) for m in methods}
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
        for method, restorer in restorers.items():
            out, info = restore_with_info(noisy, restorer)
            p, s = psnr(out, clean), ssim(out, clean)
            result.rows.append({"image": name, "degradation": spec, "method": method,
                                "psnr": p, "ssim": s, "seconds": info.seconds})
            row.append(out)
            caption.append(f"{p:.2f} dB")
        grid_rows.append([*row, clean])
        captions.append([*caption, f"{name}: {spec}"])
    from restorekit.evaluate.figures import comparison_grid

    result.grid = comparison_grid(grid_rows, col_labels=["input", *methods, "original"],
                                  row_captions=captions)
    return result
