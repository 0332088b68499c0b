"""Datasets: clean images and real noisy/clean pairs, served as seeded training samples.

The trainer calls :func:`make_dataset`; it returns a torch ``Dataset`` of dicts
``{"input", "target", ["sigma"], ["mask"], ["label"]}`` (see :mod:`restorekit.data.patches`).
Submodules (and torch) are imported only when a dataset is made, so this import is cheap.

Source kinds and their extra keyword options:

``folder``  clean images of ``root`` (or ``root/<split>`` if that folder exists); ``root`` may
            be a list of folders, whose images form one pool.
            ``recursive=False``, ``cache=DEFAULT_CACHE_BYTES`` (True/False/bytes),
            ``preload=True``.
``pairs``   real noisy/clean pairs (rules in :mod:`restorekit.data.folders`): ``clean_root``,
            ``strict=False``, ``recursive``, ``cache``, ``preload``. Uses ``root/<split>`` too.
``mnist``   IDX files in ``root``; ``split`` train | test | all-train | all-test (the seeded
            75/25 split of all 70,000 digits: ``split_seed=0``, ``train_fraction=0.75``).
            ``patch_size=None`` gives whole 28x28 digits. Samples carry ``"label"``.
``stl10``   official binary files; ``split`` train | test | unlabeled; ``mmap`` (default: only
            unlabeled). Labelled splits carry ``"label"``.
``sidd``    SIDD-Small/Medium ``Data/`` scene folders (``split="train"``; ``phones``,
            ``iso_range``, ``cache``, ``preload``) or the validation ``.mat`` blocks
            (``split="val"``).

Every kind also takes ``fixed`` (see :class:`~restorekit.data.patches.PatchDataset`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from restorekit.errors import RestorekitError, UnknownNameError

if TYPE_CHECKING:
    from torch.utils.data import Dataset

__all__ = ["KINDS", "make_dataset", "make_source"]

KINDS = ("folder", "pairs", "mnist", "stl10", "sidd")
_SOURCE_OPTIONS = {
    "folder": {"recursive", "cache", "preload"},
    "pairs": {"clean_root", "strict", "recursive", "cache", "preload"},
    "mnist": {"split_seed", "train_fraction"},
    "stl10": {"mmap"},
    "sidd": {"phones", "iso_range", "cache", "preload"},
}
_DATASET_OPTIONS = {"fixed"}


def _split_dir(root: Path, split: str) -> Path:
    sub = root / split
    return sub if split and sub.is_dir() else root


def source_folder(kind: str, root: str | Path, split: str) -> Path | None:
    """The folder a ``folder`` or ``pairs`` source reads (``root/<split>`` if it exists, else
    ``root``); None for the other kinds, which read a split out of their files."""
    return _split_dir(Path(root), split) if kind in ("folder", "pairs") else None


def source_name(kind: str, root: str | Path, split: str) -> str:
    """How a model card names a source: ``kind:FOLDER``, with ``/SPLIT`` only where a split
    is read (a split sub-folder that exists, or a kind with splits in its files)."""
    folder = source_folder(kind, root, split)
    if folder == Path(root):
        return f"{kind}:{Path(root).name}"
    return f"{kind}:{Path(root).name}/{split}"


def _check_root(root: str | Path) -> Path:
    root = Path(root).expanduser()
    if not root.exists():
        raise RestorekitError(f"dataset root not found: {root}")
    if not root.is_dir():
        raise RestorekitError(f"dataset root is not a folder: {root}")
    return root


def make_source(kind: str, root: str | Path | Sequence[str | Path], *, split: str = "train",
                **kw: Any) -> Any:
    """The raw image source for ``kind`` (``len(src)``, ``src.get(i)``), before patching.

    ``root`` is one folder, or (``folder`` kind only) a list of folders pooled together."""
    if kind not in KINDS:
        raise UnknownNameError(f"unknown dataset kind {kind!r}; known kinds: {', '.join(KINDS)}")
    roots = [_check_root(r) for r in ([root] if isinstance(root, (str, Path)) else root)]
    if len(roots) != 1 and not (roots and kind == "folder"):
        raise RestorekitError(f"dataset kind {kind!r} takes one root folder, got {len(roots)}")
    root = roots[0]
    unknown = set(kw) - _SOURCE_OPTIONS[kind]
    if unknown:
        raise RestorekitError(f"unexpected option(s) for dataset kind {kind!r}: "
                              f"{', '.join(sorted(unknown))} (accepted: "
                              f"{', '.join(sorted(_SOURCE_OPTIONS[kind] | _DATASET_OPTIONS))})")
    if kind == "folder":
        from restorekit.data.folders import ImageFolderSource

        return ImageFolderSource([_split_dir(r, split) for r in roots], **kw)
    if kind == "pairs":
        from restorekit.data.folders import PairedFolderSource

        return PairedFolderSource(_split_dir(root, split), **kw)
    if kind == "mnist":
        from restorekit.data.mnist import MNISTSource

        return MNISTSource(root, split, **kw)
    if kind == "stl10":
        from restorekit.data.stl10 import STL10Source

        return STL10Source(root, split, **kw)
    from restorekit.data.sidd import SiddSource

    return SiddSource(root, split, **kw)


def make_dataset(kind: str, root: str | Path | Sequence[str | Path], *, split: str = "train",
                 patch_size: int | None = 64, degradation: str | None = None,
                 color: str = "gray", augment: Sequence[str] = (), seed: int = 0,
                 length: int | None = None, **kw: Any) -> Dataset:
    """Build the dataset the trainer iterates (kinds and options in the module docstring).

    ``patch_size``: random square patches (``length`` per epoch, default one per image), or
    None for whole images (one sample per image, degraded with a fixed seed per index).
    ``degradation``: a spec string for :func:`restorekit.degrade.parse_spec` (synthetic damage
    of the clean image; for paired sources, extra damage on the noisy one). ``color``: gray |
    rgb | y. ``augment``: e.g. ``("flip", "rot90", "rotate:15", "hue", "brightness")``.
    ``seed``: sample i of epoch e uses ``np.random.default_rng([seed, e, i])``.
    """
    from restorekit.data.patches import COLORS, PatchDataset, parse_augment

    if kind in KINDS and color not in COLORS:  # fail before decoding any image
        raise UnknownNameError(f"unknown colour mode {color!r}; known: {', '.join(COLORS)}")
    parse_augment(augment)
    fixed = kw.pop("fixed", None)
    source = make_source(kind, root, split=split, **kw)

    return PatchDataset(source, patch_size=patch_size, degradation=degradation, color=color,
                        augment=augment, seed=seed, length=length, fixed=fixed)
