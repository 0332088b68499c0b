"""STL-10 reader for the official binary layout (``stl10_binary/*.bin``).

Each image is 96x96x3 uint8 stored as 3 channel planes, each plane column-major (MATLAB
order), so a raw record reshaped to ``(3, 96, 96)`` is indexed ``[channel, x, y]``:
``raw.reshape(-1, 3, 96, 96).transpose(0, 3, 2, 1)`` gives upright NxHxWxC images. Labels
are one byte each, 1..10 on disk, returned as 0..9. The 100,000-image unlabeled split
(2.7 GB) is memory-mapped rather than read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from restorekit.errors import RestorekitError

SIZE = 96
RECORD = 3 * SIZE * SIZE
SPLITS = ("train", "test", "unlabeled")
CLASSES = ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck")


def stl10_dir(root: str | Path) -> Path:
    """The folder holding the ``.bin`` files: ``root`` or its ``stl10_binary`` subfolder."""
    root = Path(root)
    for cand in (root, root / "stl10_binary"):
        if (cand / "train_X.bin").is_file() or (cand / "test_X.bin").is_file() \
                or (cand / "unlabeled_X.bin").is_file():
            return cand
    if not root.is_dir():
        raise RestorekitError(f"STL-10 folder not found: {root}")
    raise RestorekitError(f"no STL-10 .bin files in {root} (or {root / 'stl10_binary'})")


def read_stl10_images(path: str | Path, *, mmap: bool = False) -> np.ndarray:
    """Read a ``*_X.bin`` file as an NxHxWx3 uint8 array (a memory-mapped view if ``mmap``)."""
    path = Path(path)
    if not path.is_file():
        raise RestorekitError(f"STL-10 file not found: {path}")
    size = path.stat().st_size
    if size == 0 or size % RECORD:
        raise RestorekitError(f"{path}: size {size} is not a multiple of one 3x96x96 image "
                              f"({RECORD} bytes): truncated or not STL-10")
    raw = np.memmap(path, np.uint8, mode="r") if mmap else np.fromfile(path, np.uint8)
    return raw.reshape(-1, 3, SIZE, SIZE).transpose(0, 3, 2, 1)


def read_stl10_labels(path: str | Path) -> np.ndarray:
    """Read a ``*_y.bin`` file: labels 1..10 on disk, returned as uint8 0..9."""
    path = Path(path)
    if not path.is_file():
        raise RestorekitError(f"STL-10 file not found: {path}")
    labels = np.fromfile(path, np.uint8)
    if labels.size and (labels.min() < 1 or labels.max() > 10):
        raise RestorekitError(f"{path}: labels outside 1..10: not an STL-10 label file")
    return labels - 1


def load_stl10(root: str | Path, split: str = "train", *,
               mmap: bool | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Return ``(images NxHxWx3 uint8, labels N uint8 0..9 or None for unlabeled)``.

    ``mmap=None`` memory-maps only the unlabeled split.
    """
    if split not in SPLITS:
        raise RestorekitError(f"unknown STL-10 split {split!r}; choose from {', '.join(SPLITS)}")
    folder = stl10_dir(root)
    images = read_stl10_images(folder / f"{split}_X.bin",
                               mmap=(split == "unlabeled") if mmap is None else mmap)
    if split == "unlabeled":
        return images, None
    labels = read_stl10_labels(folder / f"{split}_y.bin")
    if len(labels) != len(images):
        raise RestorekitError(f"{folder}: {len(images)} {split} images but {len(labels)} labels")
    return images, labels


class STL10Source:
    """STL-10 images (RGB uint8) as a source for :class:`~restorekit.data.patches.PatchDataset`."""

    paired = False

    def __init__(self, root: str | Path, split: str = "train", *, mmap: bool | None = None) -> None:
        self.root, self.split, self.mmap = Path(root), split, mmap
        self.images, self.labels = load_stl10(root, split, mmap=mmap)
        self.labelled = self.labels is not None

    def __getstate__(self) -> dict[str, Any]:
        # a memory map is re-opened in each worker process instead of being pickled whole
        state = dict(self.__dict__)
        if isinstance(self.images.base, np.memmap) or isinstance(self.images, np.memmap):
            state["images"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.images is None:
            self.images, _ = load_stl10(self.root, self.split, mmap=True)

    def __len__(self) -> int:
        return len(self.images)

    def get(self, index: int) -> dict[str, Any]:
        item: dict[str, Any] = {"clean": np.asarray(self.images[index])}
        if self.labels is not None:
            item["label"] = int(self.labels[index])
        return item
