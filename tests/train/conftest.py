"""Fixtures for the trainer tests: a tiny image folder, tiny configs, single-threaded torch."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def write_folder(root: Path, count: int, shape: tuple[int, int], seed: int) -> Path:
    """``count`` smooth random gray PNGs of ``shape`` in ``root``."""
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    for i in range(count):
        fx, fy = rng.uniform(0.1, 0.5, 2)
        img = 0.5 + 0.25 * np.sin(fx * x + i) * np.cos(fy * y) + 0.1 * rng.random(shape)
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(root / f"{i:02d}.png")
    return root


@pytest.fixture(scope="session")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset root with ``train/`` (6 images 24x28) and ``val/`` (2 images 20x22)."""
    root = tmp_path_factory.mktemp("images")
    write_folder(root / "train", 6, (24, 28), seed=1)
    write_folder(root / "val", 2, (20, 22), seed=2)
    return root


def tiny_config(image_root: Path, out_dir: Path, **sections: dict[str, Any]) -> Any:
    """A DnCNN depth 3 / 8 channels config on the tiny folder; ``sections`` update it."""
    from restorekit.train.config import config_from_dict

    data = {
        "name": "tiny",
        "model": {"name": "dncnn", "config": {"depth": 3, "channels": 8}},
        "data": {"kind": "folder", "root": str(image_root), "split": "train",
                 "val_root": str(image_root), "val_split": "val", "patch_size": 16,
                 "degradation": "gaussian:sigma=10-40", "augment": ["flip", "rot90"],
                 "length": 24},
        "train": {"steps": 20, "batch_size": 4, "lr": 1e-3, "val_interval": 10,
                  "checkpoint_interval": 5, "log_interval": 5, "out_dir": str(out_dir),
                  "tensorboard": False, "device": "cpu"},
    }
    for section, values in sections.items():
        if isinstance(values, dict):
            data[section] = {**data.get(section, {}), **values}
        else:
            data[section] = values
    return config_from_dict(data)


@pytest.fixture
def make_config(image_root: Path, tmp_path: Path):
    """``make_config(out="run", train={...}, ...)`` -> a tiny ExperimentConfig."""

    def make(out: str = "run", **sections: dict[str, Any]) -> Any:
        return tiny_config(image_root, tmp_path / out, **sections)

    return make


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: fast on a busy 2-core machine, and the same arithmetic everywhere."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def child_env() -> dict[str, str]:
    """Environment for child Python processes: this checkout importable, one thread."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env

