"""``restorekit serve``: a local web app and JSON API for restoring images.

Needs the ``serve`` extra (``pip install 'restorekit[serve]'``): FastAPI, uvicorn and
python-multipart. ``create_app(settings)`` builds the app; :class:`ServeSettings` holds limits.
"""

from __future__ import annotations

from typing import Any

from restorekit.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]


def create_app(settings: ServeSettings | None = None) -> Any:
    """Build the FastAPI app (imported lazily so a missing extra gives one clear error)."""
    import importlib.util

    from restorekit.errors import MissingDependencyError

    needed = {"fastapi": ("fastapi",), "uvicorn": ("uvicorn",),
              "python-multipart": ("python_multipart", "multipart")}
    missing = [package for package, modules in needed.items()
               if not any(importlib.util.find_spec(m) for m in modules)]
    if missing:
        raise MissingDependencyError(f"restorekit serve needs {', '.join(missing)}: "
                                     "pip install 'restorekit[serve]'")
    from restorekit.serve.app import create_app as build

    return build(settings)
