"""restorekit: restore damaged images with deep networks and classical filters.

An image is damaged by a ``Degradation``, repaired by a ``Restorer`` and judged by a metric.
Heavy modules (torch, scipy, scikit-image) are imported lazily so ``import restorekit`` is fast
and a broken optional dependency never breaks it.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "read_image": "restorekit.io",
    "write_image": "restorekit.io",
    "degrade": "restorekit.degrade",
    "parse_spec": "restorekit.degrade",
    "load_restorer": "restorekit.restorers",
    "list_restorers": "restorekit.restorers",
    "restore": "restorekit.api",
    "restore_task": "restorekit.api",
    "make_restorer": "restorekit.api",
    "psnr": "restorekit.metrics",
    "ssim": "restorekit.metrics",
    "estimate_sigma": "restorekit.noise_estimation",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'restorekit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
