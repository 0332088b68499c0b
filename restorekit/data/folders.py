"""Image folders (clean images) and paired noisy/clean folders, decoded once and kept in memory.

Sources here return raw pixels (uint8 / uint16 as decoded, HxW or HxWx3) through ``get(i)``;
:class:`~restorekit.data.patches.PatchDataset` turns them into float tensors, converts colour
(gray / rgb / y), crops, augments and degrades. ``source[i]`` gives the same item as float32.

Pairing rules (:func:`find_pairs`), tried in this order:

1. ``clean_root`` given: ``root`` holds the noisy images, ``clean_root`` the clean ones, matched
   by relative path without the extension (``a/x.png`` <-> ``a/x.jpg`` is a match).
2. ``root`` has a noisy subfolder (``noisy``, ``input``, ``real``, ``lq``) and a clean one
   (``clean``, ``gt``, ``ground_truth``, ``groundtruth``, ``target``, ``mean``, ``hq``): as 1.
3. One folder with marked names, case-insensitive: suffixes ``*_real`` / ``*_mean`` (PolyU,
   CC15), ``*_noisy`` / ``*_clean`` / ``*_gt``, or prefixes ``NOISY_*`` / ``GT_*`` / ``CLEAN_*``
   (SIDD). The rest of the name (and the sub-folder) must agree.

Images without a partner are listed in a warning, or raise in ``strict`` mode.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from restorekit.errors import RestorekitError

#: Default in-memory cache budget per source (decoded bytes); beyond it images are read per use.
DEFAULT_CACHE_BYTES = 4 << 30

NOISY_DIRS = ("noisy", "input", "real", "lq")
CLEAN_DIRS = ("clean", "gt", "ground_truth", "groundtruth", "target", "mean", "hq")
_NOISY_MARK = re.compile(r"^(?:noisy_)(?P<key>.+)$|^(?P<key2>.+?)(?:_real|_noisy|_noise)$", re.I)
_CLEAN_MARK = re.compile(r"^(?:gt_|clean_)(?P<key>.+)$|^(?P<key2>.+?)(?:_mean|_clean|_gt)$", re.I)


def _is_image(path: Path) -> bool:
    from restorekit.io import is_image_file

    return is_image_file(path)


def list_images(root: str | Path, *, recursive: bool = False) -> list[Path]:
    """Image files in ``root`` (sub-folders too if ``recursive``), sorted by relative path."""
    root = Path(root)
    if not root.is_dir():
        raise RestorekitError(f"image folder not found: {root}")
    files = root.rglob("*") if recursive else root.iterdir()
    return sorted((p for p in files if p.is_file() and _is_image(p)),
                  key=lambda p: p.relative_to(root).as_posix())


def load_pixels(path: str | Path) -> np.ndarray:
    """Decode an image via ``restorekit.io.read_image``, kept compact: uint8 or uint16.

    8-bit files come back exactly as stored (``read_image`` divides by 255, we multiply back),
    so caching costs one byte per sample instead of four. Alpha is dropped.
    """
    from restorekit.io import read_image

    img, meta = read_image(path)
    if meta.bit_depth <= 8:
        return np.rint(img * 255.0).astype(np.uint8)
    return np.rint(img * 65535.0).astype(np.uint16)


class ImageCache:
    """Decoded images of a list of files, cached in memory up to ``cache`` bytes.

    ``cache``: True (no limit), False (never cache) or a byte budget. ``preload`` decodes up to
    the budget right away (with a few threads) so DataLoader workers forked later share the
    pixels instead of each decoding its own copy.
    """

    def __init__(self, paths: Sequence[Path], *, cache: bool | int = DEFAULT_CACHE_BYTES,
                 preload: bool = True, threads: int = 4) -> None:
        self.paths = list(paths)
        self.budget = (1 << 62) if cache is True else (0 if cache is False else int(cache))
        self.used = 0
        self._images: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()
        if preload and self.budget > 0 and self.paths:
            n = max(1, min(threads, len(self.paths)))
            with ThreadPoolExecutor(n) as pool:
                for start in range(0, len(self.paths), 2 * n):
                    if self.used >= self.budget:
                        break
                    chunk = range(start, min(start + 2 * n, len(self.paths)))
                    decoded = pool.map(load_pixels, [self.paths[i] for i in chunk])
                    for i, img in zip(chunk, decoded, strict=True):
                        self._keep(i, img)  # in index order: which images fit is deterministic

    def __len__(self) -> int:
        return len(self.paths)

    def get(self, index: int) -> np.ndarray:
        img = self._images.get(index)
        if img is not None:
            return img
        return self._keep(index, load_pixels(self.paths[index]))

    def _keep(self, index: int, img: np.ndarray) -> np.ndarray:
        with self._lock:
            if index not in self._images and self.used + img.nbytes <= self.budget:
                img.setflags(write=False)
                self._images[index] = img
                self.used += img.nbytes
        return img

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


def _as_float(item: dict[str, Any]) -> dict[str, Any]:
    from restorekit.io import to_float32

    return {k: to_float32(v) if isinstance(v, np.ndarray) else v for k, v in item.items()}


class ImageFolderSource:
    """Clean images of a folder, sorted by relative path (``recursive`` includes sub-folders).

    Several folders pool their images in the order given; names are then prefixed with each
    folder's name (``train400/test_001.png``)."""

    paired = False
    labelled = False

    def __init__(self, root: str | Path | Sequence[str | Path], *, recursive: bool = False,
                 cache: bool | int = DEFAULT_CACHE_BYTES, preload: bool = True) -> None:
        roots = [Path(root)] if isinstance(root, (str, Path)) else [Path(r) for r in root]
        self.roots = roots
        paths: list[Path] = []
        self.names: list[str] = []
        for folder in roots:
            found = list_images(folder, recursive=recursive)
            if not found:
                raise RestorekitError(f"no images in {folder}" + (
                    "" if recursive else " (for sub-folders: recursive=True; in a training "
                    "config, data.options = {recursive = true})"))
            prefix = f"{folder.name}/" if len(roots) > 1 else ""
            paths += found
            self.names += [prefix + p.relative_to(folder).as_posix() for p in found]
        self.images = ImageCache(paths, cache=cache, preload=preload)

    @property
    def paths(self) -> list[Path]:
        return self.images.paths

    def __len__(self) -> int:
        return len(self.images)

    def get(self, index: int) -> dict[str, Any]:
        """Raw pixels: ``{"clean": uint8/uint16 array, "name": relative path}``."""
        return {"clean": self.images.get(index), "name": self.names[index]}

    def __getitem__(self, index: int) -> dict[str, Any]:
        return _as_float(self.get(index))


def _stem_key(path: Path, root: Path) -> str:
    return path.relative_to(root).with_suffix("").as_posix()


def _mark_key(path: Path, root: Path, pattern: re.Pattern[str]) -> str | None:
    m = pattern.match(path.stem)
    if not m:
        return None
    rest = m.group("key") or m.group("key2")
    parent = path.parent.relative_to(root).as_posix()
    return rest.lower() if parent == "." else f"{parent}/{rest.lower()}"


def _index(paths: list[Path], key: Any, what: str) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in paths:
        k = key(p)
        if k is None:
            continue
        if k in out:
            raise RestorekitError(f"ambiguous {what} images {out[k].name} and {p.name} "
                                  f"(same name apart from the extension) in {p.parent}")
        out[k] = p
    return out


def _subdir(root: Path, names: Sequence[str]) -> Path | None:
    for child in sorted(root.iterdir()) if root.is_dir() else ():
        if child.is_dir() and child.name.lower() in names:
            return child
    return None


def _report(unmatched: list[str], where: Path, strict: bool) -> None:
    if not unmatched:
        return
    shown = ", ".join(unmatched[:10]) + (f" ... ({len(unmatched) - 10} more)"
                                         if len(unmatched) > 10 else "")
    message = f"{len(unmatched)} image(s) without a noisy/clean partner in {where}: {shown}"
    if strict:
        raise RestorekitError(message)
    warnings.warn(message, stacklevel=3)


def find_pairs(root: str | Path, clean_root: str | Path | None = None, *, strict: bool = False,
               recursive: bool = False) -> list[tuple[Path, Path]]:
    """Match noisy and clean images (rules in the module docstring): ``[(noisy, clean), ...]``.

    Sorted by the shared name. Unmatched images give a warning listing them (``strict``: an
    error); no pair at all is always an error.
    """
    root = Path(root)
    if not root.is_dir():
        raise RestorekitError(f"image folder not found: {root}")
    if clean_root is None:
        noisy_dir, clean_dir = _subdir(root, NOISY_DIRS), _subdir(root, CLEAN_DIRS)
        if noisy_dir is not None and clean_dir is not None:
            root, clean_root = noisy_dir, clean_dir
    if clean_root is not None:
        clean_root = Path(clean_root)
        if not clean_root.is_dir():
            raise RestorekitError(f"clean image folder not found: {clean_root}")
        noisy = _index(list_images(root, recursive=recursive),
                       lambda p: _stem_key(p, root), "noisy")
        clean = _index(list_images(clean_root, recursive=recursive),
                       lambda p: _stem_key(p, clean_root), "clean")
        unmatched = ([f"{root.name}/{k}" for k in sorted(noisy.keys() - clean.keys())]
                     + [f"{clean_root.name}/{k}" for k in sorted(clean.keys() - noisy.keys())])
        where = root.parent
    else:
        files = list_images(root, recursive=recursive)
        noisy = _index(files, lambda p: _mark_key(p, root, _NOISY_MARK), "noisy")
        clean = _index(files, lambda p: _mark_key(p, root, _CLEAN_MARK), "clean")
        paired = {noisy[k] for k in noisy.keys() & clean.keys()} \
            | {clean[k] for k in noisy.keys() & clean.keys()}
        unmatched = [p.relative_to(root).as_posix() for p in files if p not in paired]
        where = root
    keys = sorted(noisy.keys() & clean.keys())
    if not keys:
        raise RestorekitError(
            f"no noisy/clean pairs found in {where} (expected two folders with the same file "
            "names, noisy/ + clean/ sub-folders, or names like X_real.png + X_mean.png or "
            "NOISY_X.png + GT_X.png)")
    _report(unmatched, where, strict)
    return [(noisy[k], clean[k]) for k in keys]


class PairedFolderSource:
    """Noisy/clean image pairs found by :func:`find_pairs`, decoded once and cached."""

    paired = True
    labelled = False

    def __init__(self, root: str | Path, clean_root: str | Path | None = None, *,
                 strict: bool = False, recursive: bool = False,
                 cache: bool | int = DEFAULT_CACHE_BYTES, preload: bool = True) -> None:
        self.root = Path(root)
        self.pairs = find_pairs(root, clean_root, strict=strict, recursive=recursive)
        budget = cache if isinstance(cache, bool) else int(cache) // 2
        self.noisy = ImageCache([n for n, _ in self.pairs], cache=budget, preload=preload)
        self.clean = ImageCache([c for _, c in self.pairs], cache=budget, preload=preload)

    def __len__(self) -> int:
        return len(self.pairs)

    def get(self, index: int) -> dict[str, Any]:
        """Raw pixels: ``{"noisy": array, "clean": array, "name": noisy file name}``."""
        noisy, clean = self.noisy.get(index), self.clean.get(index)
        if noisy.shape != clean.shape:
            raise RestorekitError(f"noisy {self.pairs[index][0]} is {noisy.shape[:2]} but clean "
                                  f"{self.pairs[index][1]} is {clean.shape[:2]}")
        return {"noisy": noisy, "clean": clean, "name": self.pairs[index][0].name}

    def __getitem__(self, index: int) -> dict[str, Any]:
        return _as_float(self.get(index))
