"""Training: configs, losses, optimizers, the trainer with exact resume and DDP.

The config names import without torch; the trainer, losses and distributed helpers (which
need torch) load on first use::

    from restorekit.train import load_config, train
    result = train(load_config("dncnn_tiny.toml", ["train.steps=100"]))
"""

from __future__ import annotations

from typing import Any

from restorekit.train.config import (
    DataConfig,
    ExperimentConfig,
    ModelConfig,
    TrainConfig,
    apply_overrides,
    load_config,
    save_config,
)

__all__ = ["ModelConfig", "DataConfig", "TrainConfig", "ExperimentConfig", "load_config",
           "apply_overrides", "save_config", "train", "Trainer", "TrainResult", "build_loss",
           "shard"]

_LAZY = {"train": "trainer", "Trainer": "trainer", "TrainResult": "trainer",
         "build_loss": "losses", "shard": "distributed"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"restorekit.train.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'restorekit.train' has no attribute {name!r}")
