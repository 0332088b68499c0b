"""STL-10 binary layout: known images written the official way read back upright."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from restorekit.data import make_dataset
from restorekit.data.stl10 import (
    RECORD,
    STL10Source,
    load_stl10,
    read_stl10_images,
    read_stl10_labels,
)
from restorekit.errors import RestorekitError


def known_images(n: int) -> np.ndarray:
    """NxHxWx3 images with an unmistakable orientation: R = row, G = column, B = index."""
    rows, cols = np.mgrid[0:96, 0:96]
    imgs = np.zeros((n, 96, 96, 3), np.uint8)
    imgs[..., 0] = rows * 2
    imgs[..., 1] = cols
    imgs[..., 2] = np.arange(n)[:, None, None] * 10
    imgs[:, :8, :4, :] = 255  # a white block top-left: wider than tall
    return imgs


def write_official(path: Path, images: np.ndarray) -> None:
    """What the official files hold: per image, 3 channel planes, each column-major."""
    records = [np.asarray(img).transpose(2, 1, 0).reshape(-1) for img in images]
    np.concatenate(records).astype(np.uint8).tofile(path)


def make_stl(root: Path) -> dict[str, np.ndarray]:
    root.mkdir(parents=True, exist_ok=True)
    ref = {"train": known_images(3), "test": known_images(2), "unlabeled": known_images(4)}
    for split, imgs in ref.items():
        write_official(root / f"{split}_X.bin", imgs)
    np.array([1, 10, 5], np.uint8).tofile(root / "train_y.bin")
    np.array([2, 3], np.uint8).tofile(root / "test_y.bin")
    return ref


def test_layout_reads_back_upright(tmp_path: Path) -> None:
    ref = make_stl(tmp_path)
    images = read_stl10_images(tmp_path / "train_X.bin")
    assert images.shape == (3, 96, 96, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, ref["train"])
    assert images[0, 10, 50, 0] == 20 and images[0, 10, 50, 1] == 50  # R = 2*row, G = col
    assert (images[1, :8, :4] == 255).all() and images[1, 8, 0, 1] == 0
    np.testing.assert_array_equal(read_stl10_labels(tmp_path / "train_y.bin"), [0, 9, 4])


def test_unlabeled_split_is_memory_mapped(tmp_path: Path) -> None:
    ref = make_stl(tmp_path / "stl10_binary")
    images, labels = load_stl10(tmp_path, "unlabeled")  # finds the stl10_binary subfolder
    assert labels is None and isinstance(images, np.memmap)
    np.testing.assert_array_equal(images, ref["unlabeled"])
    src = STL10Source(tmp_path, "unlabeled")
    clone = pickle.loads(pickle.dumps(src))
    assert len(pickle.dumps(src)) < RECORD  # the map is reopened, not pickled
    np.testing.assert_array_equal(clone.get(3)["clean"], ref["unlabeled"][3])
    assert "label" not in clone.get(0)


def test_bad_files(tmp_path: Path) -> None:
    make_stl(tmp_path)
    (tmp_path / "bad_X.bin").write_bytes(b"\0" * (RECORD + 5))
    with pytest.raises(RestorekitError, match="not a multiple"):
        read_stl10_images(tmp_path / "bad_X.bin")
    np.array([0, 3], np.uint8).tofile(tmp_path / "test_y.bin")
    with pytest.raises(RestorekitError, match="outside 1..10"):
        load_stl10(tmp_path, "test")
    np.array([1, 2, 3], np.uint8).tofile(tmp_path / "test_y.bin")
    with pytest.raises(RestorekitError, match="2 test images but 3 labels"):
        load_stl10(tmp_path, "test")
    with pytest.raises(RestorekitError, match="unknown STL-10 split"):
        load_stl10(tmp_path, "val")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RestorekitError, match="no STL-10 .bin files"):
        load_stl10(tmp_path / "empty", "train")
    with pytest.raises(RestorekitError, match="folder not found"):
        load_stl10(tmp_path / "missing", "train")


def test_make_dataset_rgb_whole_images_with_labels(tmp_path: Path) -> None:
    ref = make_stl(tmp_path)
    ds = make_dataset("stl10", tmp_path, split="train", patch_size=None, color="rgb")
    assert len(ds) == 3 and ds.channels == 3
    s = ds[1]
    assert s["label"] == 9 and s["target"].shape == (3, 96, 96)
    np.testing.assert_allclose(s["target"].permute(1, 2, 0).numpy(), ref["train"][1] / 255.0,
                               atol=1e-7)
    patches = make_dataset("stl10", tmp_path, split="unlabeled", patch_size=32, length=10)
    assert len(patches) == 10 and patches[9]["input"].shape == (1, 32, 32)
    assert "label" not in patches[0]
