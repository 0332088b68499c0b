"""Shared fixtures: seeded RNGs, small synthetic images, and access to RESTOREKIT_DATA."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    """Where the real datasets live: $RESTOREKIT_DATA, else ../shared/data beside the repo."""
    env = os.environ.get("RESTOREKIT_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture
def dataset():
    """Return a function giving the path of a dataset folder, skipping the test when absent."""

    def get(name: str) -> Path:
        path = data_root() / name
        if not path.is_dir():
            pytest.skip(f"dataset {name!r} not found under {data_root()} (set RESTOREKIT_DATA)")
        return path

    return get


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def gray_image() -> np.ndarray:
    """A 64x48 smooth gray test image with an edge, float32 in [0, 1]."""
    y, x = np.mgrid[0:64, 0:48].astype(np.float32)
    img = 0.5 + 0.3 * np.sin(x / 7.0) * np.cos(y / 9.0)
    img[20:40, 10:30] += 0.15
    return np.clip(img, 0, 1).astype(np.float32)


@pytest.fixture
def textured_image() -> np.ndarray:
    """A 128x128x3 seeded texture with detail at every scale an 8x8 DCT sees (float32, no
    clipped pixel): what JPEG quantization marks in every block."""
    from scipy.ndimage import gaussian_filter

    field = gaussian_filter(np.random.default_rng(7).normal(size=(128, 128, 3)), (1.5, 1.5, 0))
    return (0.5 + 0.35 * field / np.abs(field).max()).astype(np.float32)


@pytest.fixture
def rgb_image(gray_image: np.ndarray) -> np.ndarray:
    """A 64x48x3 colour test image, float32 in [0, 1]."""
    g = gray_image
    return np.stack([g, np.flipud(g), 1.0 - g], axis=-1).astype(np.float32)
