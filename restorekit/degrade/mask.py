"""Missing regions (``mask``) and noise confined to a region (``box-noise``).

``mask`` sets the missing pixels (all channels) to ``fill`` (default 0, "blacked out"). The
region is the first argument, or implied by its key::

    mask:lower-half          rows floor(H/2)..H-1 (28x28 MNIST: rows 14-27); also upper-half,
                             left-half, right-half (each ceil(size/2) rows or columns)
    mask:box=8,8,16,16       x, y, w, h: integers are pixels, numbers with '.' are fractions
    mask:box=0.25,0.25,0.5,0.5
    mask:random-boxes=3      3 boxes (or a range, 1-5), each side uniform in 1..size,
    mask:random-boxes=3,size=0.25      size in pixels (int) or a fraction of min(H, W)
    mask:file=holes.png      a mask image of the same size; nonzero (ignoring alpha) = missing
    mask:lower-half,fill=1   fill with white

``params["mask"]`` is the boolean mask, True = missing: HxW for numpy images, NxHxW for torch
batches (random boxes are drawn per image). ``params["boxes"]`` lists (x, y, w, h) in pixels for
box regions (a list per image on batches).

``box-noise`` adds Gaussian (sigma on the 0-255 scale) or salt-and-pepper noise inside a box
only, the "box noise" test of the DSC paper; ``random=true`` moves the box (same w, h) to a random
position per image. It clips to [0, 1] by default.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from restorekit.degrade.base import (
    Degradation,
    Ops,
    Param,
    _Fixed,
    _fmt_value,
    register_degradation,
)
from restorekit.degrade.noise import salt_pepper
from restorekit.errors import SpecError

__all__ = ["BoxNoise", "Mask", "box_pixels", "read_mask"]

_REGIONS = ("lower-half", "upper-half", "left-half", "right-half", "box", "random-boxes", "file")
_IMPLIES = {"box": "box", "random_boxes": "random-boxes", "file": "file"}
_CENTRE = (0.25, 0.25, 0.5, 0.5)


def box_pixels(box: tuple[int | float, ...], h: int, w: int) -> tuple[int, int, int, int]:
    """Resolve (x, y, w, h) (int pixels or float fractions) to pixels, clipped to the image."""

    def px(v: int | float, n: int) -> int:
        return int(v) if isinstance(v, int) else int(round(v * n))

    x, y = min(px(box[0], w), w), min(px(box[1], h), h)
    return x, y, min(px(box[2], w), w - x), min(px(box[3], h), h - y)


def read_mask(path: str) -> np.ndarray:
    """Read a mask image: True where any non-alpha channel is nonzero. Errors are SpecError."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode == "P":
                im = im.convert("RGBA")
            bands = im.getbands()
            arr = np.asarray(im)
    except Exception as exc:  # PIL raises many types for unreadable files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpecError(f"cannot read mask file {path!r}: {reason}") from None
    if arr.ndim == 3:
        keep = [i for i, b in enumerate(bands) if b != "A"] or [0]
        return np.any(arr[..., keep] != 0, axis=-1)
    return arr != 0


def _random_box(gen: np.random.Generator, size: int | float, h: int, w: int) -> tuple[int, ...]:
    m = size if isinstance(size, int) else max(1, int(round(size * min(h, w))))
    bw, bh = int(gen.integers(1, min(m, w) + 1)), int(gen.integers(1, min(m, h) + 1))
    return int(gen.integers(0, w - bw + 1)), int(gen.integers(0, h - bh + 1)), bw, bh


def _box_mask(boxes: list[tuple[int, ...]], h: int, w: int) -> np.ndarray:
    m = np.zeros((h, w), dtype=bool)
    for x, y, bw, bh in boxes:
        m[y : y + bh, x : x + bw] = True
    return m


@register_degradation
class Mask(Degradation):
    """Missing pixels set to ``fill``: a half, a box, random boxes or a mask file."""

    name = "mask"
    aliases = ("inpaint",)
    summary = (
        "missing region set to fill: lower-half, upper-half, box=x,y,w,h, random-boxes=n, file=PATH"
    )
    example = "mask:lower-half"
    positional = "region"
    PARAMS = (
        Param(
            "region",
            "choice",
            "lower-half",
            "which pixels are missing",
            options=_REGIONS,
            fixed=True,
        ),
        Param(
            "box",
            "box",
            _CENTRE,
            "x,y,w,h (int pixels or float fractions)",
            when=("region", ("box",)),
        ),
        Param(
            "random_boxes",
            "int",
            3,
            "number of random boxes",
            lo=1,
            hi=1000,
            when=("region", ("random-boxes",)),
        ),
        Param(
            "size",
            "size",
            0.25,
            "largest random box side (int pixels or fraction of min(H,W))",
            when=("region", ("random-boxes",)),
        ),
        Param("file", "path", None, "mask image, nonzero = missing", when=("region", ("file",))),
        Param("fill", "float", 0.0, "value of the missing pixels", lo=0, hi=1),
    )

    def _update(self, params: dict[str, Any]) -> None:
        params = {k.strip().lower().replace("-", "_"): v for k, v in params.items()}
        implied = {_IMPLIES[k] for k in params if k in _IMPLIES}
        if len(implied) > 1:
            got = ", ".join(sorted(implied))
            raise SpecError(f"mask takes one of box=, random-boxes=, file= (got {got})")
        if implied and "region" not in params:
            params["region"] = implied.pop()
        super()._update(params)

    def _validate(self) -> None:
        cfg = self.config
        if cfg["region"] != "file":
            self._file_mask = None
            return
        if cfg["file"] is None:
            raise SpecError("mask:file needs a path, e.g. mask:file=holes.png")
        if getattr(self, "_file_path", None) != cfg["file"] or self._file_mask is None:
            self._file_mask = read_mask(cfg["file"])
            self._file_path = cfg["file"]

    @property
    def spec(self) -> str:
        cfg = self.config
        region = cfg["region"]
        if region == "box":
            parts = [f"box={_fmt_value(self._param('box'), self._values['box'])}"]
        elif region == "random-boxes":
            count = _fmt_value(self._param("random_boxes"), self._values["random_boxes"])
            parts = [f"random-boxes={count}"]
            if self._values["size"] != _Fixed(0.25):
                parts.append(f"size={_fmt_value(self._param('size'), self._values['size'])}")
        elif region == "file":
            parts = [f"file={cfg['file']}"]
        else:
            parts = [region]
        if self._values["fill"] != _Fixed(0.0):
            parts.append(f"fill={_fmt_value(self._param('fill'), self._values['fill'])}")
        return "mask:" + ",".join(parts)

    def _one(
        self, p: dict[str, Any], gen: np.random.Generator, i: int | None, h: int, w: int
    ) -> tuple[np.ndarray, list[tuple[int, ...]] | None]:
        region = p["region"]
        m = np.zeros((h, w), dtype=bool)
        if region == "lower-half":
            m[h // 2 :] = True
        elif region == "upper-half":
            m[: (h + 1) // 2] = True
        elif region == "left-half":
            m[:, : (w + 1) // 2] = True
        elif region == "right-half":
            m[:, w // 2 :] = True
        elif region == "box":
            box = box_pixels(p["box"], h, w)
            return _box_mask([box], h, w), [box]
        elif region == "random-boxes":
            count = (
                p["random_boxes"]
                if i is None or not isinstance(p["random_boxes"], list)
                else p["random_boxes"][i]
            )
            boxes = [_random_box(gen, p["size"], h, w) for _ in range(count)]
            return _box_mask(boxes, h, w), boxes
        else:
            m = self._file_mask
            if m is None or m.shape != (h, w):
                got = "missing" if m is None else f"{m.shape[1]}x{m.shape[0]}"
                raise SpecError(f"mask file {p['file']!r} is {got} but the image is {w}x{h}")
            m = m.copy()  # callers may keep or change params["mask"]
        return m, None

    def _apply(self, x: Any, p: dict[str, Any], ops: Ops) -> tuple[Any, dict[str, Any]]:
        h, w = ops.hw
        if ops.n is None:
            m, boxes = self._one(p, ops.gen, None, h, w)
        elif p["region"] == "random-boxes":
            ms, boxes = zip(*(self._one(p, ops.gen, i, h, w) for i in range(ops.n)), strict=True)
            m, boxes = np.stack(ms), list(boxes)
        else:
            m0, box = self._one(p, ops.gen, None, h, w)
            m, boxes = np.repeat(m0[None], ops.n, axis=0), (None if box is None else [box] * ops.n)
        out = ops.where(ops.mask(m), ops.value(p["fill"]), x)
        params = {"region": p["region"], "fill": p["fill"], "mask": m}
        if boxes is not None:
            params["boxes"] = boxes
        if p["region"] == "random-boxes":
            params.update(count=p["random_boxes"], size=p["size"])
        if p["region"] == "file":
            params["file"] = p["file"]
        return out, params


@register_degradation
class BoxNoise(Degradation):
    """Gaussian or salt-and-pepper noise inside a box only (the DSC paper's "box noise")."""

    name = "box-noise"
    summary = "noise inside a box only: box=x,y,w,h, noise=gaussian|salt-pepper, random=true"
    example = "box-noise:box=0.25,0.25,0.5,0.5,sigma=75"
    PARAMS = (
        Param("box", "box", _CENTRE, "x,y,w,h (int pixels or float fractions)", show=True),
        Param("random", "bool", False, "move the box (same w, h) to a random position",
              fixed=True),
        Param(
            "noise",
            "choice",
            "gaussian",
            "noise inside the box",
            options=("gaussian", "salt-pepper"),
            fixed=True,
        ),
        Param(
            "sigma",
            "float",
            50.0,
            "Gaussian std on the 0-255 scale",
            lo=0,
            hi=10000,
            when=("noise", ("gaussian",)),
        ),
        Param(
            "amount",
            "float",
            0.5,
            "fraction of box pixels set to 0/1",
            lo=0,
            hi=1,
            when=("noise", ("salt-pepper",)),
        ),
        Param(
            "ratio",
            "float",
            0.5,
            "fraction of corrupted pixels set to 1",
            lo=0,
            hi=1,
            when=("noise", ("salt-pepper",)),
        ),
        Param("clip", "bool", True, "clip the result to [0, 1]", when=("noise", ("gaussian",)),
              fixed=True),
    )

    def _apply(self, x: Any, p: dict[str, Any], ops: Ops) -> tuple[Any, dict[str, Any]]:
        h, w = ops.hw
        x0, y0, bw, bh = box_pixels(p["box"], h, w)
        if p["random"]:  # keep the full w, h (not clipped at the given x, y)
            _, _, bw, bh = box_pixels((0, 0, *p["box"][2:]), h, w)

        def place() -> tuple[int, int, int, int]:
            if not p["random"]:
                return x0, y0, bw, bh
            return (
                int(ops.gen.integers(0, w - bw + 1)),
                int(ops.gen.integers(0, h - bh + 1)),
                bw,
                bh,
            )

        if ops.n is None:
            boxes: Any = place()
            m = _box_mask([boxes], h, w)
        else:
            boxes = [place() for _ in range(ops.n)]
            m = np.stack([_box_mask([b], h, w) for b in boxes])
        if p["noise"] == "gaussian":
            noisy = x + ops.normal() * ops.value(p["sigma"], 1 / 255)
            noisy = ops.clip(noisy) if p["clip"] else noisy
        else:
            noisy = salt_pepper(x, ops, p["amount"], p["ratio"], False)
        params = {k: v for k, v in p.items() if k != "box"}
        return ops.where(ops.mask(m), noisy, x), {**params, "box": boxes, "mask": m}
