"""Training samples from any source: random patches, augmentation, on-the-fly degradation.

:class:`PatchDataset` wraps a *source* (anything with ``len()``, ``paired``, ``labelled`` and
``get(i) -> {"clean": HxW[x3] array, ["noisy": ...], ["label": int]}``) and yields dicts::

    {"input": CxHxW float32, "target": CxHxW float32,
     "sigma": float32 scalar (0-1 scale; only when a gaussian step recorded one),
     "mask": 1xHxW float32 (1 = missing; only when a mask step ran),
     "label": int (labelled sources only)}

Determinism: sample ``i`` of epoch ``e`` draws everything (image choice, crop, augmentation,
noise) from ``np.random.default_rng([seed, e, i])``, so a batch does not depend on the number
of DataLoader workers or DDP ranks. Call :meth:`PatchDataset.set_epoch` before iterating an
epoch; the epoch lives in shared memory, so persistent workers see it too. In whole-image mode
(``patch_size=None``) samples are ``fixed`` by default: epoch 0's draw every time, so validation
noise is identical across epochs and runs.

Pipeline per sample: pick image (patches: uniformly at random; whole images: ``i % n``) ->
crop ``patch_size`` (images smaller than the patch are reflect-padded; the crop position is
uniform) -> augmentations in the order given -> colour conversion -> degradation. For paired
(real-noise) sources the noisy image gets exactly the same crop and augmentation and is the
input; a ``degradation``, if given, is applied on top of the noisy image.

Augmentations (``"name"`` or ``"name:amount"``):
  ``flip``        left-right and up-down flips, each with probability 1/2
  ``hflip``       left-right flip with probability 1/2;  ``vflip``: up-down
  ``rot90``       rotation by k*90 degrees, k uniform in 0..3
  ``rotate[:D]``  free rotation by an angle uniform in [-D, D] degrees (default 180), bilinear,
                  reflected borders; patches are cut from a larger window so no border shows
  ``hue[:H]``     hue shift uniform in [-H, H] turns of the HSV hue circle (default 0.1); RGB
                  sources only (a no-op on gray images)
  ``brightness[:B]``  multiply by a factor uniform in [1-B, 1+B] (default 0.2), clip to [0, 1]
  ``scale[:S]``   shrink by a factor uniform in [S, 1] (default 0.6; MATLAB-style antialiased
                  bicubic), as VDSR, DRRN and MemNet enlarge their 291 training images with
                  copies scaled 0.6-1: patches are cut from a window 1/factor as large (at most
                  the image) and shrunk to the patch size; applied at the crop, wherever listed

Colour modes: ``gray`` (RGB -> ITU-R 601 luma 0.299 R + 0.587 G + 0.114 B, as Pillow's "L"),
``rgb`` (gray sources are replicated to 3 channels) and ``y`` (RGB -> BT.601 Y in [16, 235]/255
as MATLAB ``rgb2ycbcr``, via :func:`restorekit.io.rgb_to_y`; gray sources pass unchanged).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from restorekit.degrade.resample import downscale
from restorekit.errors import RestorekitError, UnknownNameError

COLORS = ("gray", "rgb", "y")
AUGMENTATIONS = {"flip": None, "hflip": None, "vflip": None, "rot90": None,
                 "rotate": 180.0, "hue": 0.1, "brightness": 0.2, "scale": 0.6}
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@dataclass(frozen=True)
class Augment:
    """One augmentation step: its name and amount (see the module docstring)."""

    name: str
    amount: float | None = None


def parse_augment(items: Sequence[str] | str | None) -> tuple[Augment, ...]:
    """Parse ``["flip", "rotate:30", "hue"]`` (or ``"flip,rotate:30"``) into steps."""
    if not items:
        return ()
    if isinstance(items, str):
        items = [s for s in items.replace("+", ",").split(",") if s.strip()]
    out = []
    for item in items:
        if isinstance(item, Augment):
            out.append(item)
            continue
        name, _, arg = str(item).strip().lower().replace("_", "-").partition(":")
        name = {"lr-flip": "hflip", "left-right-flip": "hflip", "up-down-flip": "vflip",
                "ud-flip": "vflip", "rotation": "rotate", "rot": "rot90"}.get(name, name)
        if name not in AUGMENTATIONS:
            raise UnknownNameError(f"unknown augmentation {item!r}; known: "
                                   + ", ".join(AUGMENTATIONS))
        default = AUGMENTATIONS[name]
        if arg and default is None:
            raise RestorekitError(f"augmentation {name!r} takes no amount (got {item!r})")
        try:
            amount = float(arg) if arg else default
        except ValueError:
            raise RestorekitError(f"bad amount in augmentation {item!r}") from None
        if amount is not None and not (math.isfinite(amount) and amount >= 0):
            raise RestorekitError(f"augmentation amount must be >= 0 in {item!r}")
        if name == "scale" and not 0 < amount <= 1:
            raise RestorekitError(f"the smallest scale factor must be in (0, 1] in {item!r}")
        out.append(Augment(name, amount))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Array helpers (numpy, HxW or HxWxC)
# ---------------------------------------------------------------------------------------------


def _reflect(idx: np.ndarray, n: int) -> np.ndarray:
    """Map any integer indices into [0, n) by mirror reflection (numpy's ``reflect`` mode)."""
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * n - 2
    idx = np.mod(idx, period)
    return np.where(idx >= n, period - idx, idx)


def _window(img: np.ndarray, top: int, left: int, size: int) -> np.ndarray:
    """``img[top:top+size, left:left+size]`` with reflection where it leaves the image."""
    h, w = img.shape[:2]
    if top >= 0 and left >= 0 and top + size <= h and left + size <= w:
        return img[top:top + size, left:left + size]
    rows = _reflect(np.arange(top, top + size), h)
    cols = _reflect(np.arange(left, left + size), w)
    return img[rows[:, None], cols[None, :]]


def _to_float(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a.astype(np.float32) / np.float32(255)
    if a.dtype == np.uint16:
        return a.astype(np.float32) / np.float32(65535)
    return np.clip(a.astype(np.float32), 0.0, 1.0)


def _hsv_planes(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
    maxc = np.maximum(np.maximum(r, g), b)
    minc = np.minimum(np.minimum(r, g), b)
    delta = maxc - minc
    safe = np.where(delta > 0, delta, 1)
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    h = np.where(r == maxc, bc - gc, np.where(g == maxc, 2 + rc - bc, 4 + gc - rc)) / 6.0
    h = np.where(delta > 0, np.where(h < 0, h + 1.0, h), 0)  # wrap without a slow float modulo
    s = np.where(maxc > 0, delta / np.where(maxc > 0, maxc, 1), 0)
    return h, s, maxc


def _rgb_planes(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> list[np.ndarray]:
    # channel n of (R, G, B) = v - v s clip(min(k, 4 - k), 0, 1), k = (n + 6 h) mod 6, n = 5, 3, 1
    h6 = (h - np.floor(h)) * 6.0
    vs = v * s
    out = []
    for n in (5.0, 3.0, 1.0):
        k = h6 + n
        k = np.where(k >= 6.0, k - 6.0, k)
        out.append(v - vs * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0))
    return out


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """RGB (...x3, [0, 1]) -> HSV with hue in [0, 1) (the colorsys convention)."""
    planes = np.moveaxis(rgb, -1, 0).copy()
    return np.stack(_hsv_planes(*planes), axis=-1).astype(rgb.dtype)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_hsv`."""
    planes = np.moveaxis(hsv, -1, 0).copy()
    return np.stack(_rgb_planes(*planes), axis=-1).astype(hsv.dtype)


def shift_hue(rgb: np.ndarray, delta: float) -> np.ndarray:
    """Rotate the hue of an RGB image by ``delta`` turns (saturation and value unchanged)."""
    h, s, v = _hsv_planes(*np.moveaxis(rgb, -1, 0).copy())
    return np.stack(_rgb_planes(h + np.float32(delta), s, v), axis=-1).astype(rgb.dtype)


def convert_color(img: np.ndarray, color: str) -> np.ndarray:
    """HxW or HxWx3 float32 -> HxW (gray, y) or HxWx3 (rgb); see the module docstring."""
    rgb_in = img.ndim == 3 and img.shape[2] == 3
    if img.ndim == 3 and img.shape[2] == 1:
        img, rgb_in = img[..., 0], False
    if color == "rgb":
        return img if rgb_in else np.repeat(img[..., None], 3, axis=2)
    if not rgb_in:
        return img
    if color == "y":
        from restorekit.io import rgb_to_y

        return np.asarray(rgb_to_y(img), np.float32)
    return img @ _LUMA


def _rotate(img: np.ndarray, angle: float, size: int | None = None) -> np.ndarray:
    """Rotate about the centre (bilinear, reflected borders); keep the central ``size`` square.

    Only the kept pixels are interpolated, so cutting a patch from a larger window is cheap.
    """
    from scipy import ndimage

    h, w = img.shape[:2]
    oh, ow = (h, w) if size is None else (size, size)
    a = math.radians(angle)
    rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    c_in = np.array([(h - 1) / 2, (w - 1) / 2])
    offset = c_in - rot @ np.array([(oh - 1) / 2, (ow - 1) / 2])

    def one(plane: np.ndarray) -> np.ndarray:
        return ndimage.affine_transform(plane, rot, offset=offset, output_shape=(oh, ow),
                                        order=1, mode="reflect", prefilter=False)

    if img.ndim == 2:
        return one(img)
    return np.stack([one(img[..., c]) for c in range(img.shape[2])], axis=-1)


def _center(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return img[top:top + size, left:left + size]


def _find(params: dict[str, Any], name: str, key: str) -> list[Any]:
    """Values of ``key`` recorded by steps called ``name`` (searching chains)."""
    found = []
    if params.get("name") == name and key in params:
        found.append(params[key])
    for step in params.get("steps", ()):
        found += _find(step, name, key)
    return found


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    chw = img[None] if img.ndim == 2 else img.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(chw, dtype=np.float32))


# ---------------------------------------------------------------------------------------------
# The dataset
# ---------------------------------------------------------------------------------------------


class PatchDataset(Dataset):
    """Seeded training/validation samples from a source (see the module docstring).

    ``patch_size=None`` gives whole images (length = number of images unless ``length``
    repeats them), else random patches, ``length`` per epoch (default: one per image).
    """

    def __init__(self, source: Any, *, patch_size: int | None = 64,
                 degradation: Any = None, color: str = "gray",
                 augment: Sequence[str] | str | None = (), seed: int = 0,
                 length: int | None = None, fixed: bool | None = None) -> None:
        if color not in COLORS:
            raise UnknownNameError(f"unknown colour mode {color!r}; known: {', '.join(COLORS)}")
        if patch_size is not None and (int(patch_size) != patch_size or patch_size < 1):
            raise RestorekitError(f"patch_size must be a positive integer or None, "
                                  f"got {patch_size!r}")
        if length is not None and length < 1:
            raise RestorekitError(f"length must be >= 1, got {length}")
        if len(source) == 0:
            raise RestorekitError("the dataset source has no images")
        self.source = source
        self.patch_size = None if patch_size is None else int(patch_size)
        self.color = color
        self.augment = parse_augment(augment)
        self.seed = int(seed)
        self.length = int(length) if length is not None else len(source)
        self.fixed = (patch_size is None) if fixed is None else bool(fixed)
        self.degradation = None
        if degradation is not None and degradation != "":
            from restorekit.degrade import parse_spec

            self.degradation = parse_spec(degradation)
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        rotate = [a.amount for a in self.augment if a.name == "rotate" and a.amount]
        self._margin = 0
        if rotate and self.patch_size is not None:  # window that still covers a rotated patch
            self._margin = int(math.ceil(self.patch_size * (math.sqrt(2) - 1) / 2)) + 2

    @property
    def paired(self) -> bool:
        return bool(getattr(self.source, "paired", False))

    @property
    def channels(self) -> int:
        """Channels of ``input``/``target``: 3 for ``rgb``, else 1."""
        return 3 if self.color == "rgb" else 1

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's samples (shared with DataLoader workers, even persistent ones)."""
        self._epoch.fill_(int(epoch))

    def __len__(self) -> int:
        return self.length

    def rng_for(self, index: int) -> np.random.Generator:
        """The generator for sample ``index`` of the current epoch (epoch 0 when ``fixed``)."""
        return np.random.default_rng([self.seed, 0 if self.fixed else self.epoch, int(index)])

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index < 0:
            index += self.length
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} samples")
        rng = self.rng_for(index)
        n = len(self.source)
        item = self.source.get(int(rng.integers(n)) if self.patch_size else index % n)
        images = [item["clean"]] + ([item["noisy"]] if self.paired else [])
        images = self._geometry_and_color(images, rng)
        target = images[0]
        sample: dict[str, Any] = {}
        x = images[1] if self.paired else target
        if self.degradation is not None:
            x, params = self.degradation(x, rng)
            x = np.asarray(x, np.float32)
            sigmas = _find(params, "gaussian", "sigma")
            if sigmas:
                sigma = math.sqrt(sum(float(s) ** 2 for s in sigmas)) / 255.0
                sample["sigma"] = torch.tensor(sigma, dtype=torch.float32)
            masks = _find(params, "mask", "mask")
            if masks:
                m = np.logical_or.reduce([np.asarray(k, bool) for k in masks])
                sample["mask"] = torch.from_numpy(m.astype(np.float32)[None])
        if x is target:  # no damage asked: still two independent tensors
            x = target.copy()
        sample = {"input": _to_tensor(x), "target": _to_tensor(target), **sample}
        if "label" in item:
            sample["label"] = int(item["label"])
        return sample

    def _geometry_and_color(self, images: list[np.ndarray],
                            rng: np.random.Generator) -> list[np.ndarray]:
        """Crop, augment and convert colour, identically for every image of the list."""
        h, w = images[0].shape[:2]
        for other in images[1:]:
            if other.shape[:2] != (h, w):
                raise RestorekitError(f"noisy/clean sizes differ: {other.shape} vs "
                                      f"{images[0].shape}")
        p, m = self.patch_size, self._margin
        shrink = [float(rng.uniform(a.amount, 1)) for a in self.augment if a.name == "scale"]
        factor = math.prod(shrink)
        if p is not None:
            size = p + 2 * m  # the window the later steps need, the patch at its centre
            # q: the patch (unscaled) or the larger window that shrinks to ``size``
            q = p if factor == 1 else max(size, min(round(size / factor), h, w))
            pad = m if factor == 1 else 0
            top = int(rng.integers(0, h - q + 1)) if h >= q else int(rng.integers(h - q, 1))
            left = int(rng.integers(0, w - q + 1)) if w >= q else int(rng.integers(w - q, 1))
            images = [_to_float(_window(a, top - pad, left - pad, q + 2 * pad)) for a in images]
            if q + 2 * pad != size:  # this scale shrinks the window to exactly ``size``
                images = [downscale(a, q / size) for a in images]
        else:
            images = [_to_float(a) for a in images]
            if factor != 1:
                images = [downscale(a, 1 / factor) for a in images]
        cropped = m == 0
        for aug in self.augment:
            images, cropped = self._apply(aug, images, rng, cropped)
        if not cropped:
            images = [_center(a, p) for a in images]
        return [np.ascontiguousarray(convert_color(a, self.color)) for a in images]

    def _apply(self, aug: Augment, images: list[np.ndarray], rng: np.random.Generator,
               cropped: bool) -> tuple[list[np.ndarray], bool]:
        name = aug.name
        if name in ("flip", "hflip") and rng.random() < 0.5:
            images = [a[:, ::-1] for a in images]
        if name in ("flip", "vflip") and rng.random() < 0.5:
            images = [a[::-1] for a in images]
        if name == "rot90":
            k = int(rng.integers(4))
            images = [np.rot90(a, k) for a in images]
        elif name == "rotate" and aug.amount:
            angle = float(rng.uniform(-aug.amount, aug.amount))
            size = None if cropped else self.patch_size
            images, cropped = [_rotate(np.ascontiguousarray(a), angle, size) for a in images], True
        elif name == "hue" and aug.amount:
            delta = float(rng.uniform(-aug.amount, aug.amount))
            if images[0].ndim == 3 and images[0].shape[2] == 3:
                images = [shift_hue(a, delta) for a in images]
        elif name == "brightness" and aug.amount:
            factor = float(rng.uniform(1 - aug.amount, 1 + aug.amount))
            images = [np.clip(a * np.float32(factor), 0, 1) for a in images]
        return images, cropped
