"""MNIST IDX reader, splits, corrupt files, the dataset, and the real files when present."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from restorekit.data import make_dataset
from restorekit.data.mnist import (
    all_split_indices,
    load_mnist,
    mnist_classification_dataset,
    parse_idx,
    read_idx,
)
from restorekit.errors import RestorekitError


def idx_bytes(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def write_set(root: Path, n_train: int = 12, n_test: int = 4, *, gz: bool = True,
              dotted: bool = False) -> dict[str, np.ndarray]:
    """Write a tiny MNIST set; images encode their index so splits can be traced."""
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    start = 0
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = np.zeros((n, 28, 28), np.uint8)
        images[:, 0, 0] = np.arange(start, start + n)
        images[:, 5:20, 10] = 255
        labels = (np.arange(n) % 10).astype(np.uint8)
        start += n
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{prefix}-{kind}-ubyte"
            if dotted:
                name = name.replace("-idx", ".idx")
            data = idx_bytes(arr)
            if gz:
                (root / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (root / name).write_bytes(data)
        out[prefix] = images
        out[prefix + "_labels"] = labels
    return out


def test_reads_gz_and_raw_and_dotted_names(tmp_path: Path) -> None:
    ref = write_set(tmp_path / "gz")
    write_set(tmp_path / "raw", gz=False)
    write_set(tmp_path / "dotted", gz=False, dotted=True)
    for sub in ("gz", "raw", "dotted"):
        images, labels = load_mnist(tmp_path / sub, "train")
        assert images.dtype == np.uint8 and images.shape == (12, 28, 28)
        np.testing.assert_array_equal(images, ref["train"])
        np.testing.assert_array_equal(labels, ref["train_labels"])
        assert load_mnist(tmp_path / sub, "test")[0].shape == (4, 28, 28)


def test_parse_idx_other_dtypes() -> None:
    data = bytes([0, 0, 0x0C, 1]) + (3).to_bytes(4, "big") + np.array([1, -2, 300], ">i4").tobytes()
    np.testing.assert_array_equal(parse_idx(data), [1, -2, 300])


@pytest.mark.parametrize("damage, words", [
    (lambda d: b"\x01\x02" + d[2:], "bad magic"),
    (lambda d: d[:-5], "size mismatch"),
    (lambda d: d + b"\0", "size mismatch"),
    (lambda d: d[:6], "truncated IDX header"),
    (lambda d: d[:3] + b"\x07" + d[4:], "not an IDX file"),
])
def test_corrupt_idx_is_one_clear_line(tmp_path: Path, damage, words: str) -> None:
    good = idx_bytes(np.zeros((2, 28, 28), np.uint8))
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(damage(good))
    with pytest.raises(RestorekitError, match=words) as info:
        read_idx(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_corrupt_gzip_and_wrong_shapes(tmp_path: Path) -> None:
    write_set(tmp_path)
    gz = tmp_path / "train-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:40])
    with pytest.raises(RestorekitError, match="corrupt gzip"):
        load_mnist(tmp_path, "train")
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.zeros((12, 14, 14), np.uint8))))
    with pytest.raises(RestorekitError, match="expected Nx28x28"):
        load_mnist(tmp_path, "train")
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.zeros((11, 28, 28), np.uint8))))
    with pytest.raises(RestorekitError, match="do not match"):
        load_mnist(tmp_path, "train")


def test_missing_files_and_folder(tmp_path: Path) -> None:
    with pytest.raises(RestorekitError, match="not found"):
        load_mnist(tmp_path / "nope")
    with pytest.raises(RestorekitError, match="data download mnist"):
        load_mnist(tmp_path)
    with pytest.raises(RestorekitError, match="unknown MNIST split"):
        load_mnist(tmp_path, "val")


def test_all_splits_are_a_seeded_75_25_partition(tmp_path: Path) -> None:
    write_set(tmp_path, 12, 4)
    tr, tr_y = load_mnist(tmp_path, "all-train")
    te, _ = load_mnist(tmp_path, "all-test")
    assert len(tr) == 12 and len(te) == 4
    ids = np.concatenate([tr[:, 0, 0], te[:, 0, 0]])
    assert sorted(ids) == list(range(16))
    np.testing.assert_array_equal(load_mnist(tmp_path, "all-train")[0], tr)
    other = all_split_indices(16, "all-train", split_seed=1)
    assert not np.array_equal(other, np.sort(tr[:, 0, 0]))
    assert len(all_split_indices(70000, "all-train")) == 52500
    assert len(all_split_indices(70000, "all-test")) == 17500


def test_make_dataset_whole_digits_with_labels(tmp_path: Path) -> None:
    ref = write_set(tmp_path)
    ds = make_dataset("mnist", tmp_path, split="test", patch_size=None)
    assert len(ds) == 4
    s = ds[2]
    assert s["input"].shape == (1, 28, 28) and s["label"] == 2
    np.testing.assert_allclose(s["target"][0].numpy(), ref["t10k"][2] / 255.0, atol=1e-7)
    torch.testing.assert_close(s["input"], s["target"])  # no degradation asked
    clf = mnist_classification_dataset(tmp_path, "train")
    x, y = clf[3]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and int(y) == 3


def test_real_mnist(dataset) -> None:
    root = dataset("mnist")
    images, labels = load_mnist(root, "train")
    assert images.shape == (60000, 28, 28) and labels.shape == (60000,)
    assert np.bincount(labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265,
                                            5851, 5949]
    test_images, test_labels = load_mnist(root, "test")
    assert test_images.shape == (10000, 28, 28)
    assert np.bincount(test_labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028,
                                                 974, 1009]
    assert labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert len(load_mnist(root, "all-train")[0]) == 52500
    assert len(load_mnist(root, "all-test")[0]) == 17500
    ds = make_dataset("mnist", root, split="test", patch_size=None,
                      degradation="gaussian:sigma=50")
    a, b = ds[7], ds[7]
    torch.testing.assert_close(a["input"], b["input"])
    assert a["label"] == int(test_labels[7])
    assert abs(float(a["sigma"]) - 50 / 255) < 1e-6
