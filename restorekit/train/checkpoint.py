"""Training checkpoints: everything needed to continue a run bit for bit, written atomically.

A checkpoint is a dict saved with ``torch.save`` and read back with
``torch.load(weights_only=True)``, so it holds only tensors, numbers, strings, lists and dicts;
RNG states are stored as tensors and lists for that reason. Keys:

- ``format``, ``step`` (optimizer steps done), ``elapsed`` (training seconds so far)
- ``model``, ``ema`` (or None), ``optimizer``, ``schedule``, ``scaler`` state dicts
- ``rng``: Python ``random``, numpy's global generator, torch CPU (and every CUDA device), one
  entry per rank under DDP; ``loss_acc``: per rank, the loss sum and count since the last log
  row, so the log after a resume is the same as without the interruption
- ``data``: ``epoch`` and ``position`` (batches consumed in that epoch) of the seeded order
- ``best``: best validation PSNR and its step; ``val``: the last validation metrics
- ``config``: the resolved experiment config (a nested dict); ``world_size``
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from restorekit.atomic import atomic_write
from restorekit.errors import RestorekitError

__all__ = ["FORMAT", "save_checkpoint", "load_checkpoint", "rng_state", "set_rng_state"]

FORMAT = "restorekit-checkpoint/1"


def rng_state() -> dict[str, Any]:
    """The global RNG states of Python, numpy and torch (CPU and CUDA), weights_only-safe."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": version, "state": list(internal), "gauss": gauss},
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`rng_state` (CUDA states only when the device count matches)."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state((npy["kind"], npy["keys"].numpy().astype(np.uint32), npy["pos"],
                         npy["has_gauss"], npy["cached"]))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (temp file + rename): never a torn checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda tmp: torch.save({"format": FORMAT, **state}, tmp))


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True`` (nothing in the file is executed)."""
    path = Path(path)
    if not path.is_file():
        raise RestorekitError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a bad checkpoint
        raise RestorekitError(f"{path}: cannot read checkpoint ({type(exc).__name__}: {exc})"
                              ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise RestorekitError(f"{path}: not a restorekit training checkpoint")
    return state
