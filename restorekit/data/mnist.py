"""MNIST: IDX reader (gzip or raw), loader with the standard and 75/25 splits, downloader.

Files (in ``root``, gzipped or not; the uncompressed ``train-images.idx3-ubyte`` spelling is
accepted too): ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``.

Splits: ``train`` (60,000) and ``test`` (10,000) are the official ones. ``all-train`` /
``all-test`` pool all 70,000 digits, permute them with ``np.random.default_rng(split_seed)``
(default seed 0) and take the first 75% (52,500) / the remaining 25% (17,500), the protocol of
the CNN-LSTM denoising paper. The permutation depends only on ``split_seed`` and
``train_fraction``, so the two halves never overlap.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from restorekit.data.download import RemoteFile, download_files
from restorekit.errors import RestorekitError

#: The four files with their published sizes, MD5 and SHA-256 (of the .gz files).
MNIST_FILES: dict[str, RemoteFile] = {
    "train-images": RemoteFile(
        "train-images-idx3-ubyte.gz", 9912422, "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    "train-labels": RemoteFile(
        "train-labels-idx1-ubyte.gz", 28881, "d53e105ee54ea40749a09fcbcd1e9432",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    "t10k-images": RemoteFile(
        "t10k-images-idx3-ubyte.gz", 1648877, "9fb629c4189551a2d022fa330f9573f3",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    "t10k-labels": RemoteFile(
        "t10k-labels-idx1-ubyte.gz", 4542, "ec29112dd5afa0611ce80d1b7f02629c",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
}

#: Public mirrors serving the original files (tried in order; override with ``mirrors=``).
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

SPLITS = ("train", "test", "all-train", "all-test")
_PREFIX = {"train": "train", "test": "t10k"}
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """Decode the bytes of an IDX file (magic ``00 00 type ndim``, big-endian int32 dims)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise RestorekitError(f"{name}: not an IDX file (bad magic number)")
    code, ndim = data[2], data[3]
    if code not in _DTYPES or not 1 <= ndim <= 4:
        raise RestorekitError(f"{name}: not an IDX file (magic 0x{data[:4].hex()})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise RestorekitError(f"{name}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    dtype = np.dtype(_DTYPES[code])
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise RestorekitError(f"{name}: IDX size mismatch: {len(data)} bytes, header "
                              f"{'x'.join(map(str, dims))} needs {expected} (truncated or corrupt)")
    arr = np.frombuffer(data, dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("=")) if dtype.byteorder == ">" else arr.copy()


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file, gzip-compressed (detected by content) or raw."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise RestorekitError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise RestorekitError(f"{path}: corrupt gzip file ({exc})") from None
    return parse_idx(raw, str(path))


def _find(root: Path, stem: str) -> Path:
    """The file for ``stem`` (e.g. ``train-images-idx3-ubyte``), gzipped or raw."""
    head, idx, tail = stem.rsplit("-", 2)
    dotted = f"{head}.{idx}-{tail}"  # train-images.idx3-ubyte (the raw files' usual name)
    for name in (stem + ".gz", stem, dotted, dotted + ".gz"):
        if (root / name).is_file():
            return root / name
    raise RestorekitError(f"MNIST file {stem}.gz not found in {root} "
                          "(run `restorekit data download mnist --root DIR`)")


_CACHE: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def _load_official(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    prefix = _PREFIX[split]
    files = (_find(root, f"{prefix}-images-idx3-ubyte"), _find(root, f"{prefix}-labels-idx1-ubyte"))
    key = tuple((str(f.resolve()), f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    if key in _CACHE:  # decoding the 47 MB of training digits takes ~0.3 s: do it once
        return _CACHE[key]
    images, labels = read_idx(files[0]), read_idx(files[1])
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise RestorekitError(f"{root}: MNIST {split} images have shape {images.shape}, "
                              "expected Nx28x28 uint8")
    if labels.ndim != 1 or labels.dtype != np.uint8 or len(labels) != len(images):
        raise RestorekitError(f"{root}: MNIST {split} labels ({labels.shape}) do not match "
                              f"{len(images)} images")
    if labels.size and labels.max() > 9:
        raise RestorekitError(f"{root}: MNIST {split} labels outside 0-9")
    images.setflags(write=False)  # shared by every caller through the cache
    labels.setflags(write=False)
    _CACHE[key] = (images, labels)
    return images, labels


def all_split_indices(n: int, split: str, *, split_seed: int = 0,
                      train_fraction: float = 0.75) -> np.ndarray:
    """Indices into the pooled train+test digits for ``all-train`` / ``all-test``."""
    perm = np.random.default_rng(split_seed).permutation(n)
    cut = int(round(n * train_fraction))
    return np.sort(perm[:cut] if split == "all-train" else perm[cut:])


def load_mnist(root: str | Path, split: str = "train", *, split_seed: int = 0,
               train_fraction: float = 0.75) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(images uint8 Nx28x28, labels uint8 N)`` for a split (see module docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise RestorekitError(f"MNIST folder not found: {root}")
    if split not in SPLITS:
        raise RestorekitError(f"unknown MNIST split {split!r}; choose from {', '.join(SPLITS)}")
    if split in _PREFIX:
        return _load_official(root, split)
    tr_x, tr_y = _load_official(root, "train")
    te_x, te_y = _load_official(root, "test")
    idx = all_split_indices(len(tr_x) + len(te_x), split, split_seed=split_seed,
                            train_fraction=train_fraction)
    return np.concatenate([tr_x, te_x])[idx], np.concatenate([tr_y, te_y])[idx]


def download_mnist(root: str | Path, mirrors: Sequence[str] | None = None, *,
                   quiet: bool = False, timeout: float = 30.0) -> list[Path]:
    """Fetch the four MNIST files into ``root`` (no network if they already verify)."""
    return download_files(MNIST_FILES.values(), root, list(mirrors or MNIST_MIRRORS),
                          quiet=quiet, timeout=timeout)


class MNISTSource:
    """MNIST digits as a source for :class:`~restorekit.data.patches.PatchDataset`."""

    paired = False
    labelled = True

    def __init__(self, root: str | Path, split: str = "train", **kw: Any) -> None:
        self.images, self.labels = load_mnist(root, split, **kw)

    def __len__(self) -> int:
        return len(self.images)

    def get(self, index: int) -> dict[str, Any]:
        return {"clean": self.images[index], "label": int(self.labels[index])}


def mnist_classification_dataset(root: str | Path, split: str = "train", **kw: Any) -> Any:
    """A plain torch Dataset of ``(1x28x28 float32 tensor in [0, 1], int label)`` pairs.

    For classifiers (downstream accuracy); for denoising use ``make_dataset("mnist", ...)``.
    """
    import torch
    from torch.utils.data import TensorDataset

    images, labels = load_mnist(root, split, **kw)
    x = torch.from_numpy(images[:, None].astype(np.float32) / np.float32(255))
    return TensorDataset(x, torch.from_numpy(labels.astype(np.int64)))
