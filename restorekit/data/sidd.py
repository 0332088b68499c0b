"""SIDD (Smartphone Image Denoising Dataset): the SIDD-Small/Medium folders and validation blocks.

Folder layout (``root`` may be the unpacked ``SIDD_Small_sRGB_Only`` folder or its ``Data``)::

    Data/0001_001_S6_00100_00060_3200_L/GT_SRGB_010.PNG
    Data/0001_001_S6_00100_00060_3200_L/NOISY_SRGB_010.PNG   (Medium also has *_011.PNG)

A scene folder name is ``instance_scene_phone_ISO_shutter_temperature_brightness``:
:func:`parse_scene_name` decodes it (phones GP Google Pixel, IP iPhone 7, S6 Galaxy S6 Edge,
N6 Nexus 6, G4 LG G4; brightness L/N/H).

Validation blocks: ``ValidationNoisyBlocksSrgb.mat`` / ``ValidationGtBlocksSrgb.mat`` hold
variables of the same names, 40 images x 32 blocks x 256 x 256 x 3 uint8. They are MATLAB v5
files readable by scipy; a MATLAB v7.3 (HDF5) file is read with h5py when it is installed,
otherwise a clear error says to install it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from restorekit.data.folders import DEFAULT_CACHE_BYTES, ImageCache
from restorekit.errors import MissingDependencyError, RestorekitError

PHONES = {"GP": "Google Pixel", "IP": "iPhone 7", "S6": "Samsung Galaxy S6 Edge",
          "N6": "Motorola Nexus 6", "G4": "LG G4"}
BRIGHTNESS = {"L": "low", "N": "normal", "H": "high"}
VALIDATION_FILES = {"noisy": "ValidationNoisyBlocksSrgb", "gt": "ValidationGtBlocksSrgb"}

_SCENE = re.compile(r"^(\d+)_(\d+)_([A-Za-z0-9]+)_(\d+)_(\d+)_(\d+)_([A-Za-z])$")
_FILE = re.compile(r"^(GT|NOISY)_(.+)$", re.I)


@dataclass(frozen=True)
class SceneInfo:
    """What a SIDD scene folder name says about the capture."""

    name: str
    instance: int
    scene: int
    phone: str  # code: GP, IP, S6, N6, G4
    iso: int
    shutter: int  # exposure time code as in the name (1/100 s units in the SIDD docs)
    temperature: int  # illuminant colour temperature, kelvin
    brightness: str  # L, N or H

    @property
    def camera(self) -> str:
        """The phone's full name (the code itself when unknown)."""
        return PHONES.get(self.phone, self.phone)


def parse_scene_name(name: str) -> SceneInfo:
    """Parse ``0001_001_S6_00100_00060_3200_L`` into a :class:`SceneInfo`."""
    m = _SCENE.match(name)
    if not m:
        raise RestorekitError(f"not a SIDD scene folder name: {name!r} "
                              "(expected like 0001_001_S6_00100_00060_3200_L)")
    inst, scene, phone, iso, shutter, temp, bright = m.groups()
    return SceneInfo(name, int(inst), int(scene), phone.upper(), int(iso), int(shutter),
                     int(temp), bright.upper())


@dataclass(frozen=True)
class SiddPair:
    """One noisy/ground-truth image pair of a scene."""

    noisy: Path
    gt: Path
    info: SceneInfo


def sidd_data_dir(root: str | Path) -> Path:
    """The folder holding the scene folders: ``root/Data``, ``root/*/Data`` or ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise RestorekitError(f"SIDD folder not found: {root}")
    for cand in (root / "Data", *sorted(root.glob("*/Data")), root):
        if cand.is_dir() and any(_SCENE.match(c.name) for c in cand.iterdir() if c.is_dir()):
            return cand
    raise RestorekitError(f"no SIDD scene folders (like 0001_001_S6_00100_00060_3200_L) in {root}"
                          " or its Data/ folder")


def find_sidd_pairs(root: str | Path, *, phones: tuple[str, ...] | None = None,
                    iso_range: tuple[int, int] | None = None) -> list[SiddPair]:
    """All ``NOISY_*``/``GT_*`` pairs under the scene folders, sorted; optionally filtered.

    ``phones`` keeps only those phone codes (e.g. ``("S6", "IP")``); ``iso_range=(lo, hi)``
    keeps scenes with lo <= ISO <= hi. A scene folder with an unpaired file is an error.
    """
    data = sidd_data_dir(root)
    wanted = {p.upper() for p in phones} if phones else None
    pairs: list[SiddPair] = []
    for scene in sorted(c for c in data.iterdir() if c.is_dir() and _SCENE.match(c.name)):
        info = parse_scene_name(scene.name)
        if wanted is not None and info.phone not in wanted:
            continue
        if iso_range is not None and not iso_range[0] <= info.iso <= iso_range[1]:
            continue
        found: dict[str, dict[str, Path]] = {"GT": {}, "NOISY": {}}
        for f in scene.iterdir():
            m = _FILE.match(f.stem)
            if f.is_file() and m and f.suffix.lower() in (".png", ".tif", ".tiff"):
                found[m.group(1).upper()][m.group(2).upper()] = f
        lonely = sorted(found["GT"].keys() ^ found["NOISY"].keys())
        if lonely:
            raise RestorekitError(f"{scene}: no noisy/GT partner for {', '.join(lonely)}")
        pairs += [SiddPair(found["NOISY"][k], found["GT"][k], info) for k in sorted(found["GT"])]
    if not pairs:
        raise RestorekitError(f"no SIDD image pairs in {data}"
                              + (" matching the filters" if phones or iso_range else ""))
    return pairs


def _is_v73(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(520)
    return head.startswith(b"MATLAB 7.3") or head[512:520] == b"\x89HDF\r\n\x1a\n"


def read_mat_variable(path: str | Path, name: str) -> np.ndarray:
    """Read one variable of a ``.mat`` file (v5 via scipy; v7.3/HDF5 via h5py if installed)."""
    path = Path(path)
    if not path.is_file():
        raise RestorekitError(f"MATLAB file not found: {path}")
    if _is_v73(path):
        try:
            import h5py
        except ImportError:
            raise MissingDependencyError(
                f"{path} is a MATLAB v7.3 (HDF5) file, which scipy cannot read: "
                "install h5py (pip install h5py) or re-save it with save(..., '-v7')") from None
        with h5py.File(path, "r") as f:
            if name not in f:
                raise RestorekitError(f"{path}: no variable {name!r} (has {', '.join(f)})")
            arr = np.asarray(f[name])
        return arr.transpose(tuple(range(arr.ndim))[::-1])  # HDF5 stores MATLAB arrays reversed
    from scipy.io import loadmat

    try:
        data = loadmat(path, variable_names=[name])
    except (ValueError, OSError, NotImplementedError, TypeError) as exc:
        raise RestorekitError(f"{path}: cannot read MATLAB file ({exc})") from None
    if name not in data:
        raise RestorekitError(f"{path}: no variable {name!r}")
    return data[name]


def load_sidd_validation(root: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(noisy, gt)`` blocks, each NxBx256x256x3 uint8 (N images, B blocks each)."""
    root = Path(root)
    if not root.is_dir():
        raise RestorekitError(f"SIDD folder not found: {root}")
    out = []
    for var in VALIDATION_FILES.values():
        hits = sorted(root.rglob(f"{var}.mat"))
        if not hits:
            raise RestorekitError(f"{var}.mat not found under {root}")
        arr = read_mat_variable(hits[0], var)
        if arr.ndim == 4:  # a single image's blocks
            arr = arr[None]
        if arr.ndim != 5 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
            raise RestorekitError(f"{hits[0]}: {var} has shape {arr.shape} {arr.dtype}, "
                                  "expected images x blocks x H x W x 3 uint8")
        out.append(arr)
    noisy, gt = out
    if noisy.shape != gt.shape:
        raise RestorekitError(f"SIDD validation noisy {noisy.shape} and GT {gt.shape} differ")
    return noisy, gt


class SiddSource:
    """SIDD real-noise pairs: ``split="train"`` the scene folders, ``"val"`` the .mat blocks."""

    paired = True
    labelled = False

    def __init__(self, root: str | Path, split: str = "train", *,
                 phones: tuple[str, ...] | None = None, iso_range: tuple[int, int] | None = None,
                 cache: bool | int = DEFAULT_CACHE_BYTES, preload: bool = True) -> None:
        self.split = split
        if split in ("val", "validation", "test"):
            noisy, gt = load_sidd_validation(root)
            self.blocks_per_image = noisy.shape[1]
            self.noisy_blocks = noisy.reshape(-1, *noisy.shape[2:])
            self.gt_blocks = gt.reshape(-1, *gt.shape[2:])
            self.pairs: list[SiddPair] = []
        elif split == "train":
            self.pairs = find_sidd_pairs(root, phones=phones, iso_range=iso_range)
            budget = cache if isinstance(cache, bool) else int(cache) // 2
            self.noisy = ImageCache([p.noisy for p in self.pairs], cache=budget, preload=preload)
            self.gt = ImageCache([p.gt for p in self.pairs], cache=budget, preload=preload)
        else:
            raise RestorekitError(f"unknown SIDD split {split!r}; choose train or val")

    def __len__(self) -> int:
        return len(self.pairs) if self.pairs else len(self.noisy_blocks)

    def get(self, index: int) -> dict[str, Any]:
        """Raw pixels ``{"noisy", "clean", "name"}`` (uint8 HxWx3)."""
        if not self.pairs:
            image, block = divmod(index, self.blocks_per_image)
            return {"noisy": self.noisy_blocks[index], "clean": self.gt_blocks[index],
                    "name": f"val_{image:02d}_{block:02d}"}
        pair = self.pairs[index]
        return {"noisy": self.noisy.get(index), "clean": self.gt.get(index),
                "name": f"{pair.info.name}/{pair.noisy.name}"}
