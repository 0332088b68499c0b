"""JPEG compression: a round trip through Pillow's encoder, in memory.

``jpeg:quality=q`` (1-100, or a range like ``10-90`` drawn per call) quantises the image to
8 bits, encodes it and decodes it again. Gray images (HxW or HxWx1) are encoded as gray (mode L);
colour images as RGB with ``subsampling=4:2:0`` by default (libjpeg's default, what "JPEG q10"
benchmarks use); ``4:2:2`` and ``4:4:4`` are options. An alpha channel (2 or 4 channels) is
carried through untouched; other channel counts are encoded channel by channel. Torch batches
are encoded image by image on the CPU and returned on the input's device.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from restorekit.degrade.base import Degradation, Ops, Param, register_degradation

__all__ = ["JPEG", "jpeg_roundtrip"]

_SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}


def _encode(u8: np.ndarray, quality: int, subsampling: str) -> np.ndarray:
    from PIL import Image

    im = Image.fromarray(u8)
    kwargs: dict[str, Any] = {"quality": int(quality)}
    if u8.ndim == 3:
        kwargs["subsampling"] = _SUBSAMPLING[subsampling]
    buf = io.BytesIO()
    im.save(buf, format="JPEG", **kwargs)
    buf.seek(0)
    with Image.open(buf) as out:
        return np.asarray(out.convert(im.mode))


def jpeg_roundtrip(image: np.ndarray, quality: int, subsampling: str = "4:2:0") -> np.ndarray:
    """JPEG-compress a float HxW or HxWxC image in [0, 1]; returns float32 (alpha kept)."""
    x = np.nan_to_num(np.asarray(image, dtype=np.float32))
    u8 = np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)
    if u8.ndim == 2:
        return _encode(u8, quality, subsampling).astype(np.float32) / 255.0
    c = u8.shape[-1]
    if c in (1, 3):
        out = _encode(u8 if c == 3 else u8[..., 0], quality, subsampling)
    elif c in (2, 4):
        colour = _encode(u8[..., : c - 1] if c == 4 else u8[..., 0], quality, subsampling)
        out = np.concatenate(
            [colour.reshape(*u8.shape[:2], c - 1) / 255.0, x[..., c - 1 :]], axis=-1
        )
        return out.astype(np.float32)
    else:
        out = np.stack([_encode(u8[..., i], quality, subsampling) for i in range(c)], axis=-1)
    return out.reshape(u8.shape).astype(np.float32) / 255.0


@register_degradation
class JPEG(Degradation):
    """JPEG round trip at ``quality`` (1-100) with 8-bit quantisation, via Pillow."""

    name = "jpeg"
    aliases = ("jpg",)
    summary = "JPEG round trip (Pillow) at quality 1-100; colour uses 4:2:0 subsampling"
    example = "jpeg:quality=10"
    positional = "quality"
    PARAMS = (
        Param("quality", "int", 10, "JPEG quality", lo=1, hi=100, show=True),
        Param(
            "subsampling",
            "choice",
            "4:2:0",
            "chroma subsampling of colour images",
            options=tuple(_SUBSAMPLING),
        ),
    )

    def _apply(self, x: Any, p: dict[str, Any], ops: Ops) -> tuple[Any, dict[str, Any]]:
        if not ops.torch:
            return jpeg_roundtrip(x, p["quality"], p["subsampling"]), p
        import torch

        def pick(v: Any, i: int) -> Any:
            return v[i] if isinstance(v, list) else v

        arr = x.detach().to("cpu", torch.float32).permute(0, 2, 3, 1).numpy()
        outs = [
            jpeg_roundtrip(a, pick(p["quality"], i), pick(p["subsampling"], i))
            for i, a in enumerate(arr)
        ]
        out = torch.from_numpy(np.stack(outs)).permute(0, 3, 1, 2)
        return out.to(device=x.device, dtype=x.dtype), p
