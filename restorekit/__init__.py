"""restorekit: restore damaged images with deep networks and classical filters.

An image is damaged by a ``Degradation``, repaired by a ``Restorer`` and judged by a metric.
Heavy modules (torch, scipy, scikit-image) are imported lazily so ``import restorekit`` is fast
and a broken optional dependency never breaks it.
"""

from __future__ import annotations

import importlib
import sys
import types
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


class _Package(types.ModuleType):
    """The package module, guarding its public functions against same-named subpackages.

    ``restorekit.degrade`` is both a function of the API and a subpackage; importing the
    subpackage makes the import system bind it on the package, which would turn every later
    ``restorekit.degrade(...)`` into a call of a module. Such bindings are dropped here, so the
    name always reaches ``__getattr__`` and the function (``sys.modules`` keeps the subpackage).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'restorekit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
