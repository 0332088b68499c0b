"""Pick a torch device: an explicit name, or the best available (cuda, then mps, then cpu)."""

from __future__ import annotations

from typing import Any

from restorekit.errors import RestorekitError


def resolve_device(name: str | None = None) -> Any:
    """Return a ``torch.device`` for ``name`` ("auto"/None, "cpu", "cuda", "cuda:1", "mps")."""
    import torch

    if name in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise RestorekitError(f"unknown device {name!r}: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RestorekitError(f"device {name!r} requested but CUDA is not available")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RestorekitError(f"device {name!r} requested but MPS is not available")
    return device
