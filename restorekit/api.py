"""The one-call Python API: ``restore(image)`` does what ``restorekit restore`` does.

``method="auto"`` picks the best method available here: a shipped pretrained network for the
image's channel count when the zoo has one, else BM3D when the optional package is installed,
else non-local means. Noise levels are on the 0-255 scale and estimated when not given.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from restorekit.restorers.base import Restorer, get_entry, load_restorer

#: Classical fallbacks for ``method="auto"``, best first; the first one importable wins.
AUTO_FALLBACKS = ("bm3d", "nlm")


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


def resolve_method(method: str | None, channels: int = 1) -> str:
    """Turn ``"auto"``/None into a concrete registered method name for ``channels``."""
    if method not in (None, "", "auto"):
        get_entry(method)  # raises a clear error for unknown names
        return method
    try:
        from restorekit.zoo import default_model  # shipped weights, when present
    except ImportError:
        default_model = None
    if default_model is not None:
        name = default_model("denoise", channels)
        if name:
            return name
    return AUTO_FALLBACKS[0] if _bm3d_available() else AUTO_FALLBACKS[-1]


def make_restorer(method: str | None = "auto", *, channels: int = 1, weights: str | None = None,
                  device: str | None = None, **options: Any) -> Restorer:
    """Build a :class:`Restorer` once (the CLI reuses it across a batch)."""
    return load_restorer(resolve_method(method, channels), weights=weights, device=device,
                         **options)


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


def restore(image: np.ndarray, method: str | None = "auto", *, sigma: float | None = None,
            weights: str | None = None, device: str | None = None, **options: Any) -> np.ndarray:
    """Restore a float image in [0, 1] (HxW or HxWx3) and return one of the same shape.

    >>> import numpy as np, restorekit
    >>> noisy = np.clip(0.5 + np.random.default_rng(0).normal(0, 0.1, (32, 32)), 0, 1)
    >>> restorekit.restore(noisy.astype(np.float32), method="gaussian-filter").shape
    (32, 32)
    """
    from restorekit.io import to_float32

    image = to_float32(np.asarray(image))
    channels = 1 if image.ndim == 2 else image.shape[-1]
    restorer = make_restorer(method, channels=channels, weights=weights, device=device, **options)
    out, _ = restore_with_info(image, restorer, sigma=sigma)
    return out
