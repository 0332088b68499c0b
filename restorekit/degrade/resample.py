"""Down-then-up resampling (the super-resolution degradation) and plain resize functions.

``resample:scale=s`` shrinks the image by ``s`` (2, 3, 4, any float >= 1, or a range / choice
drawn per call) with the ``down`` kernel and enlarges it back to the input's size with the ``up``
kernel. Kernels: nearest, bilinear, bicubic; both default to bicubic, the SR benchmark
convention (the MemNet study uses ``down=nearest,up=nearest``). The result is clipped to [0, 1]
(``clip=false`` keeps bicubic overshoot).

The resizer is our own numpy/torch implementation of MATLAB's ``imresize`` (not Pillow's):
pixel-centre aligned coordinates, Keys cubic (a = -0.5), symmetric borders, and antialiasing (the
kernel stretched by ``s``) when shrinking with bilinear or bicubic, which is what SR papers use to
make their low-resolution inputs. Shrinking gives ``ceil(H / s) x ceil(W / s)``; enlarging back
uses the same factor ``s`` and keeps the first H x W pixels. Nearest takes the edge pixel for
sample points past the border, so nearest down-then-up is exact on images that are constant on
s x s blocks, for any size (a partial last block included).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from restorekit.degrade.base import Degradation, Ops, Param, check_image, register_degradation
from restorekit.errors import SpecError

__all__ = ["KERNELS", "Resample", "downscale", "upscale"]

KERNELS = ("nearest", "bilinear", "bicubic")


def _box(t: np.ndarray) -> np.ndarray:
    return ((t >= -0.5) & (t < 0.5)).astype(np.float64)


def _triangle(t: np.ndarray) -> np.ndarray:
    return np.maximum(1.0 - np.abs(t), 0.0)


def _cubic(t: np.ndarray) -> np.ndarray:
    a = np.abs(t)
    a2, a3 = a * a, a * a * a
    near = (1.5 * a3 - 2.5 * a2 + 1.0) * (a <= 1)
    far = (-0.5 * a3 + 2.5 * a2 - 4.0 * a + 2.0) * ((a > 1) & (a <= 2))
    return near + far


_KERNEL = {"nearest": (_box, 1.0), "bilinear": (_triangle, 2.0), "bicubic": (_cubic, 4.0)}


def _taps(in_len: int, out_len: int, step: float, kernel: str) -> tuple[np.ndarray, np.ndarray]:
    """Source indices and weights (out_len x taps) for one axis.

    ``step`` is input pixels per output pixel (s when shrinking, 1/s when enlarging). Output
    pixel x (1-based) sits at input position u = x * step + (1 - step) / 2.
    """
    f, width = _KERNEL[kernel]
    if step > 1 and kernel != "nearest":  # antialias: stretch the kernel over `step` pixels

        def h(t: np.ndarray) -> np.ndarray:
            return f(t / step) / step

        width *= step
    else:
        h = f
    u = np.arange(1, out_len + 1, dtype=np.float64) * step + 0.5 * (1.0 - step)
    left = np.floor(u - width / 2.0)
    idx = left[:, None] + np.arange(int(math.ceil(width)) + 2)[None, :]
    w = h(u[:, None] - idx)
    w /= w.sum(axis=1, keepdims=True)
    if kernel == "nearest":  # a sample point past the edge takes the edge pixel
        idx = np.clip(idx - 1, 0, in_len - 1).astype(np.int64)
    else:  # symmetric borders, as MATLAB
        mirror = np.concatenate([np.arange(in_len), np.arange(in_len)[::-1]])
        idx = mirror[np.mod(idx - 1, 2 * in_len).astype(np.int64)]
    keep = np.any(w != 0, axis=0)
    return idx[:, keep], w[:, keep]


def _resize_axis(x: Any, axis: int, out_len: int, step: float, kernel: str) -> Any:
    idx, w = _taps(int(x.shape[axis]), out_len, step, kernel)
    shape = [1] * x.ndim
    shape[axis] = out_len
    torch_in = not isinstance(x, np.ndarray)
    if torch_in:
        import torch

        idx_t = torch.from_numpy(idx).to(x.device)
        w_t = torch.from_numpy(w).to(device=x.device, dtype=x.dtype)
    else:
        w = w.astype(x.dtype)
    out = None
    for k in range(idx.shape[1]):
        if torch_in:
            term = x.index_select(axis, idx_t[:, k]) * w_t[:, k].reshape(shape)
        else:
            term = np.take(x, idx[:, k], axis=axis) * w[:, k].reshape(shape)
        out = term if out is None else out + term
    return out


def _resize(x: Any, size: tuple[int, int], step: float, kernel: str, clip: bool) -> Any:
    if kernel not in _KERNEL:
        raise SpecError(f"unknown kernel {kernel!r} (known: {', '.join(KERNELS)})")
    check_image(x)
    axes = (2, 3) if not isinstance(x, np.ndarray) else (0, 1)
    out = _resize_axis(x, axes[0], size[0], step, kernel)
    out = _resize_axis(out, axes[1], size[1], step, kernel)
    if clip:
        out = out.clamp(0.0, 1.0) if not isinstance(out, np.ndarray) else np.clip(out, 0.0, 1.0)
    return out


def _check_scale(scale: float) -> float:
    try:
        s = float(scale)
    except (TypeError, ValueError):
        raise SpecError(f"bad scale {scale!r} (expected a number >= 1)") from None
    if not math.isfinite(s) or s < 1:
        raise SpecError(f"bad scale {scale!r} (expected a number >= 1)")
    return s


def _hw(x: Any) -> tuple[int, int]:
    return (
        (int(x.shape[0]), int(x.shape[1]))
        if isinstance(x, np.ndarray)
        else (int(x.shape[2]), int(x.shape[3]))
    )


def downscale(image: Any, scale: float, kernel: str = "bicubic", *, clip: bool = True) -> Any:
    """Shrink by ``scale`` to ceil(H/scale) x ceil(W/scale), MATLAB-imresize style.

    Works on numpy HxW / HxWxC images and torch NxCxHxW batches; bilinear and bicubic are
    antialiased. This is how super-resolution training makes its low-resolution inputs.
    """
    s = _check_scale(scale)
    h, w = _hw(image)
    size = (max(1, math.ceil(h / s - 1e-9)), max(1, math.ceil(w / s - 1e-9)))
    return _resize(image, size, s, kernel, clip)


def upscale(
    image: Any,
    scale: float,
    kernel: str = "bicubic",
    *,
    size: tuple[int, int] | None = None,
    clip: bool = True,
) -> Any:
    """Enlarge by ``scale`` (to round(H*scale) x round(W*scale), or ``size`` = (H, W) pixels of
    that same grid, e.g. the original size after :func:`downscale` of an odd-sized image)."""
    s = _check_scale(scale)
    h, w = _hw(image)
    if size is None:
        size = (max(1, round(h * s)), max(1, round(w * s)))
    return _resize(image, (int(size[0]), int(size[1])), 1.0 / s, kernel, clip)


@register_degradation
class Resample(Degradation):
    """Down-then-up resampling by ``scale``; the output has the input's size."""

    name = "resample"
    aliases = ("sr", "downsample")
    summary = "shrink by scale then enlarge back (SR degradation); kernels nearest|bilinear|bicubic"
    example = "resample:scale=4"
    positional = "scale"
    PARAMS = (
        Param("scale", "float", 2.0, "shrink factor", lo=1, hi=64, show=True),
        Param("down", "choice", "bicubic", "shrinking kernel", options=KERNELS),
        Param("up", "choice", "bicubic", "enlarging kernel", options=KERNELS),
        Param("clip", "bool", True, "clip the result to [0, 1]", fixed=True),
    )

    def _apply(self, x: Any, p: dict[str, Any], ops: Ops) -> tuple[Any, dict[str, Any]]:
        if ops.torch and any(isinstance(p[k], list) for k in ("scale", "down", "up")):
            import torch

            def pick(k: str, i: int) -> Any:
                return p[k][i] if isinstance(p[k], list) else p[k]

            outs, lr = [], []
            for i in range(ops.n or 0):
                o, shape = self._one(
                    x[i : i + 1], pick("scale", i), pick("down", i), pick("up", i), p["clip"]
                )
                outs.append(o)
                lr.append(shape)
            return torch.cat(outs), {**p, "lr_shape": lr}
        out, shape = self._one(x, p["scale"], p["down"], p["up"], p["clip"])
        return out, {**p, "lr_shape": shape}

    @staticmethod
    def _one(x: Any, s: float, down: str, up: str, clip: bool) -> tuple[Any, tuple[int, int]]:
        small = downscale(x, s, down, clip=clip)
        return upscale(small, s, up, size=_hw(x), clip=clip), _hw(small)
