"""Bounded-memory tiled inference: overlapping tiles, blended seams, a tile size from a budget.

KAIR/SwinIR-style tiling (``--tile``, ``--tile_overlap``; SwinIR's ``main_test_swinir.py``)
cuts an image into overlapping tiles and averages the overlaps with equal weights, so pixels
next to a tile border, where zero padding inside the net disturbs the output, count as much as
pixels deep inside a tile, and the seams can show. Here every tile's output is weighted by a
smooth separable window and the weights are normalised, so each output pixel is a convex blend
of the tiles that see it:

- along each axis, a tile's window is 0 for the ``margin`` pixels next to an inner tile border
  (the pixels the border disturbs most), rises as a raised cosine over the next
  ``overlap - 2 * margin`` pixels, and is 1 elsewhere; borders on the image edge get no ramp.
  The default margin is ``overlap // 2 - overlap // 8`` (12 of 32): the blend sits in the
  middle quarter of the overlap, where both tiles are farthest from their borders. A wider
  ramp (smaller margin) mixes in outputs nearer the borders: for a random-init 17-layer DnCNN
  with 96-pixel tiles and overlap 32, PSNR(tiled, whole) is 49 dB for margin 0 (close to the
  equal-weight average), 71 dB for margin 8 and 100 dB for margin 15;
- tiles form a grid, so the normaliser is separable: the sum of the windows over the grid is
  the outer product of the 1-D sums, and each tile's window is divided by it before being
  accumulated. No full-size weight image is needed;
- edge tiles are shifted inward rather than padded, so every tile has the full size and sees
  only real pixels when the image is larger than a tile; starts are spread evenly, so
  neighbouring tiles overlap by at least ``overlap``, and are multiples of ``multiple``: a net
  that downsamples (pixel-unshuffle, strided convs) is not shift-invariant, and a tile that
  starts off its grid would see a different sampling phase than the whole image. If the image
  does not end on the grid, the last tile reaches past the end by less than ``multiple`` pixels
  and is padded by reflection, exactly as the nets pad a whole image.

A net whose receptive-field radius is at most ``margin`` gives exactly the whole-image result
(up to float rounding). A deeper net differs only by the border effect at distance >= margin
from a tile border, weighted down by the ramp: ``tests/restorers/test_tiling.py`` measures it.

Memory: the input stays where it is (normally CPU); one batch of tiles goes to the model's
device at a time and the output accumulates on the input's device in float32, so device memory
is bounded by the tile. :func:`choose_tile` picks the tile from a memory budget and a
per-pixel memory estimate measured by :func:`activation_bytes_per_pixel`.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "activation_bytes_per_pixel",
    "blend_window",
    "choose_tile",
    "tile_starts",
    "tile_work",
    "tiled_apply",
]

Progress = Callable[[int, int], Any] | bool | None


def tile_starts(size: int, tile: int, overlap: int, multiple: int = 1) -> list[int]:
    """Start offsets of tiles of length ``tile`` covering ``[0, size)``.

    Starts are multiples of ``multiple`` and spread evenly; neighbours overlap by at least
    ``overlap``; the first tile starts at 0 and the last is shifted inward so it ends at
    ``size`` rounded up to ``multiple`` (at ``size`` exactly for ``multiple=1``). One tile when
    ``size <= tile``.
    """
    stride = (tile - overlap) // multiple * multiple  # the largest aligned step keeping overlap
    if stride < 1:
        raise ValueError(f"tile ({tile}) must exceed overlap ({overlap}) by at least the "
                         f"multiple ({multiple})")
    if size <= tile:
        return [0]
    last = -(-(size - tile) // multiple)  # in units of `multiple`
    n = -(-last * multiple // stride) + 1
    return [(i * last) // (n - 1) * multiple for i in range(n)]


def blend_window(length: int, overlap: int, margin: int, *, ramp_start: bool,
                 ramp_end: bool) -> torch.Tensor:
    """1-D blending window of ``length`` samples (float64).

    With ``ramp_start``/``ramp_end`` the first/last ``overlap`` samples are 0 for ``margin``
    samples, then a raised cosine up to 1; two windows overlapping by exactly ``overlap`` sum to
    1 there. The window is 1 elsewhere.
    """
    w = torch.ones(length, dtype=torch.float64)
    if overlap <= 0:
        return w
    rise = max(overlap - 2 * margin, 1)
    d = torch.arange(min(overlap, length), dtype=torch.float64)
    u = ((d - margin + 0.5) / rise).clamp(0.0, 1.0)
    ramp = torch.where(d < margin, torch.zeros_like(u), 0.5 - 0.5 * torch.cos(math.pi * u))
    if ramp_start:
        w[: ramp.numel()] *= ramp
    if ramp_end:
        w[length - ramp.numel():] *= ramp.flip(0)
    return w


def _axis_windows(size: int, starts: list[int], lengths: list[int], overlap: int,
                  margin: int) -> list[torch.Tensor]:
    """Per-tile windows along one axis, already divided by their sum over all tiles."""
    wins = [blend_window(n, overlap, margin, ramp_start=s > 0, ramp_end=s + n < size)
            for s, n in zip(starts, lengths, strict=True)]
    total = torch.zeros(size, dtype=torch.float64)
    for s, w in zip(starts, wins, strict=True):
        total[s:s + w.numel()] += w
    if bool((total <= 0).any()):  # cannot happen for 2 * margin < overlap; keep it loud
        raise RuntimeError("tile windows leave pixels uncovered; use a smaller margin")
    return [(w / total[s:s + w.numel()]).to(torch.float32)
            for s, w in zip(starts, wins, strict=True)]


def _report(progress: Progress, total: int) -> Callable[[int], None]:
    """Turn ``progress`` (None/False, True for a tqdm bar, or a callable) into ``step(n)``."""
    if not progress:
        return lambda n: None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="tiles", unit="tile", leave=False)
        done = [0]

        def step_bar(n: int) -> None:
            bar.update(n)
            done[0] += n
            if done[0] >= total:
                bar.close()

        return step_bar
    fn = progress
    done = [0]

    def step(n: int) -> None:
        done[0] += n
        fn(done[0], total)

    return step


def _pad_to(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Pad an ...xHxW tensor on the bottom/right to ``h x w`` (reflect when possible)."""
    ph, pw = h - x.shape[-2], w - x.shape[-1]
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < x.shape[-2] and pw < x.shape[-1] else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def tiled_apply(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, *, tile: int,
                overlap: int, multiple: int = 1, batch_tiles: int = 1,
                progress: Progress = None, device: torch.device | str | None = None,
                margin: int | None = None) -> torch.Tensor:
    """Apply ``fn`` to ``x`` (NxCxHxW) tile by tile and blend the tiles into one output.

    ``fn`` maps a batch of tiles ``(N * batch_tiles) x C x t x t`` to the same batch size and
    spatial size times an integer scale (1 for denoisers); it may change the channel count.
    Tiles are ``tile x tile`` and start at multiples of ``multiple`` (so a net that downsamples
    by ``multiple`` sees the same pixel grid as on the whole image), overlapping by at least
    ``overlap``. Where the image does not end on a multiple, the last tile (or an axis shorter
    than ``tile``) is padded by reflection up to the multiple, as the nets pad a whole image,
    and cropped back. Tiles are moved to ``device`` (default: ``x``'s device) before ``fn``
    and the output accumulates in float32 on ``x``'s device. ``margin`` (default
    ``overlap // 2 - overlap // 8``) is the band along inner tile borders whose outputs are
    dropped (see the module docstring). ``progress``: a callable ``(done, total)``, or True
    for a tqdm bar.
    """
    if x.ndim != 4:
        raise ValueError(f"expected an NxCxHxW tensor, got shape {tuple(x.shape)}")
    if tile < 1 or multiple < 1 or overlap < 0 or batch_tiles < 1:
        raise ValueError("tile, multiple and batch_tiles must be >= 1 and overlap >= 0")
    if tile % multiple:
        raise ValueError(f"tile {tile} is not a multiple of {multiple}")
    if overlap >= tile:
        raise ValueError(f"overlap ({overlap}) must be smaller than tile ({tile})")
    if margin is None:
        margin = min(overlap // 2 - overlap // 8, (overlap - 1) // 2) if overlap > 0 else 0
    if not 0 <= 2 * margin < max(overlap, 1):
        raise ValueError(f"margin ({margin}) must be less than half the overlap ({overlap})")
    n, _, H, W = x.shape
    ys, xs = tile_starts(H, tile, overlap, multiple), tile_starts(W, tile, overlap, multiple)
    hs = [min(tile, H - y) for y in ys]  # real extents; the padded size is the same for all
    ws = [min(tile, W - c) for c in xs]
    ph, pw = min(tile, -(-H // multiple) * multiple), min(tile, -(-W // multiple) * multiple)
    grid = [(i, j) for i in range(len(ys)) for j in range(len(xs))]
    dev = torch.device(device) if device is not None else x.device
    step = _report(progress, len(grid))
    out: torch.Tensor | None = None
    wy: list[torch.Tensor] = []
    wx: list[torch.Tensor] = []
    s = 1  # output pixels per input pixel (an upscaling fn has s > 1)
    for b in range(0, len(grid), batch_tiles):
        group = grid[b:b + batch_tiles]
        batch = torch.cat([_pad_to(x[:, :, ys[i]:ys[i] + hs[i], xs[j]:xs[j] + ws[j]], ph, pw)
                           for i, j in group])
        res = fn(batch.to(dev, non_blocking=True))
        if out is None:
            s = res.shape[-1] // pw if res.ndim == 4 else 0
            if (res.ndim != 4 or res.shape[0] != batch.shape[0] or s < 1
                    or tuple(res.shape[-2:]) != (ph * s, pw * s)):
                raise ValueError(f"fn mapped tiles {tuple(batch.shape)} to {tuple(res.shape)};"
                                 " expected the same batch and an integer multiple of the size")
            out = torch.zeros((n, res.shape[1], H * s, W * s), dtype=torch.float32,
                              device=x.device)
            wy = [w.to(x.device) for w in _axis_windows(
                H * s, [y * s for y in ys], [h * s for h in hs], overlap * s, margin * s)]
            wx = [w.to(x.device) for w in _axis_windows(
                W * s, [c * s for c in xs], [w * s for w in ws], overlap * s, margin * s)]
        res = res.to(x.device, torch.float32)
        for k, (i, j) in enumerate(group):
            y0, x0, h, w = ys[i] * s, xs[j] * s, hs[i] * s, ws[j] * s
            out[:, :, y0:y0 + h, x0:x0 + w].addcmul_(res[k * n:(k + 1) * n, :, :h, :w],
                                                     torch.outer(wy[i], wx[j]))
        del res, batch
        step(len(group))
    assert out is not None
    return out


# ----------------------------------------------------------------------------------------------
# memory: estimate and budget


def _tensors(obj: Any) -> Iterator[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            yield from _tensors(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _tensors(o)


class _LiveTensors:
    """Peak bytes of tensors alive at once while a function runs, seen at the dispatcher.

    A ``TorchDispatchMode`` sees the output of every ATen operation (convolutions, but also the
    functional ReLUs, additions and concatenations a forward does outside modules). Each new
    storage adds its size to a running total; a ``weakref.finalize`` on each tensor object
    that refers to it removes it when the last one is freed (PyTorch keeps a tensor's Python
    object alive as long as the tensor, so this is when the memory is released). Outputs that
    are inputs (in-place ops) are not new.
    """

    def __init__(self) -> None:
        self.live = 0
        self.peak = 0
        self.largest = 0
        self._refs: dict[int, list[int]] = {}  # storage pointer -> [tensor objects, bytes]

    def _drop(self, ptr: int) -> None:
        entry = self._refs.get(ptr)
        if entry is not None:
            entry[0] -= 1
            if entry[0] == 0:
                del self._refs[ptr]
                self.live -= entry[1]

    def _track(self, t: torch.Tensor) -> None:
        try:
            storage = t.untyped_storage()
        except (RuntimeError, NotImplementedError):  # no storage (sparse, meta, ...)
            return
        ptr, nbytes = storage.data_ptr(), storage.nbytes()
        if nbytes == 0:
            return
        if ptr in self._refs:
            self._refs[ptr][0] += 1
        else:
            self._refs[ptr] = [1, nbytes]
            self.live += nbytes
            self.peak = max(self.peak, self.live)
            self.largest = max(self.largest, nbytes)
        weakref.finalize(t, self._drop, ptr)

    def run(self, fn: Callable[[], Any]) -> None:
        from torch.utils._python_dispatch import TorchDispatchMode

        tracker = self

        class Mode(TorchDispatchMode):
            @classmethod
            def _should_skip_dynamo(cls) -> bool:
                # By default torch wraps ``__torch_dispatch__`` in a Dynamo guard, whose first
                # use imports torch._dynamo: about 1 s, 20x the forward pass of a small
                # photo on `restorekit restore`. Nothing is compiled in here.
                return False

            def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
                out = func(*args, **(kwargs or {}))
                inputs = {id(t) for t in _tensors((args, kwargs))}
                for t in _tensors(out):
                    if id(t) not in inputs:
                        tracker._track(t)
                return out

        with Mode():
            result = fn()
        del result


#: Safety factor on the tracked peak, for oneDNN scratch space and allocator overhead; see
#: :func:`activation_bytes_per_pixel`.
CPU_OVERHEAD = 1.25


def activation_bytes_per_pixel(module: torch.nn.Module, in_channels: int, *,
                               device: torch.device | str | None = None, size: int = 64,
                               batch: int = 1,
                               forward: Callable[[torch.Tensor], Any] | None = None) -> float:
    """Estimated peak device memory of one forward pass, per input pixel (bytes).

    Runs ``forward`` (default ``module``) once on a ``batch x in_channels x size x size`` input
    under ``torch.inference_mode()``, then:

    - CUDA: ``torch.cuda.max_memory_allocated`` minus the memory allocated before the call
      (the caching allocator's own peak: everything the pass allocates counts);
    - CPU and MPS, which have no peak counter: the peak of tensors alive at the same time,
      tracked at the dispatcher (:class:`_LiveTensors`), times 1.25, plus the largest single
      tensor and the input. The factor and the allowance cover what the dispatcher does not
      see (oneDNN's scratch buffers, weight reorders, allocator rounding). Against the growth
      of the resident set size (``ru_maxrss``) for one 512x512 forward pass of the registered
      nets, estimate / measured was 1.18 for DnCNN-17, 0.83 for rk-unet, 1.15 for RED-Net,
      0.99 for the SIDD autoencoder, 0.92 for the 10-layer conv-deconv net and 1.53 for
      MemNet (the RSS measurement itself varies by 10-20 % between runs);
      ``benchmarks/tiling_memory.py`` checks the whole pipeline on a 24-megapixel image.
      Counting only module outputs with forward hooks misses the functional ops (ReLUs, skip
      additions, concatenations) and underestimated RED-Net 7-fold.

    Activations of convolutional nets grow linearly with the pixel count, so the result scales
    to any tile size.
    """
    dev = torch.device(device) if device is not None else next(
        (p.device for p in module.parameters()), torch.device("cpu"))
    x = torch.rand(batch, in_channels, size, size, device=dev)
    call = forward if forward is not None else module
    with torch.inference_mode():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
            base = torch.cuda.memory_allocated(dev)
            torch.cuda.reset_peak_memory_stats(dev)
            call(x)
            torch.cuda.synchronize(dev)
            total = torch.cuda.max_memory_allocated(dev) - base + x.nbytes
        else:
            live = _LiveTensors()
            live.run(lambda: call(x))
            total = CPU_OVERHEAD * live.peak + live.largest + x.nbytes
    return total / float(batch * size * size)


def tile_work(height: int, width: int, tile: int, overlap: int, multiple: int = 1) -> int:
    """Pixels the net processes when :func:`tiled_apply` covers ``height x width`` with tiles."""
    ny = len(tile_starts(height, tile, overlap, multiple))
    nx = len(tile_starts(width, tile, overlap, multiple))
    return ny * nx * min(tile, -(-height // multiple) * multiple) * min(
        tile, -(-width // multiple) * multiple)


def choose_tile(memory_budget: int, *, channels: int, bytes_per_pixel: float,
                batch: int = 1, overlap: int = 32, multiple: int = 1, max_tile: int = 8192,
                image_size: tuple[int, int] | None = None) -> int:
    """Square tile size for a memory budget (bytes), a multiple of ``multiple``.

    ``bytes_per_pixel`` is the net's peak memory per input pixel
    (:func:`activation_bytes_per_pixel`), ``batch`` the number of tiles (or channel copies) in
    one call, and each tile also needs its float32 input and output (``2 * channels * 4`` bytes
    per pixel). The largest tile that fits is the upper limit; with ``image_size`` the tile is
    then shrunk to the size that minimises the pixels processed (:func:`tile_work`): a
    2449x1633 image under a 1155-pixel limit needs 3x2 tiles either way, and 838-pixel tiles
    do that with half the work. The tile is kept above ``2 * overlap`` so tiles have a core
    beyond their blending bands, even if that exceeds a tiny budget.
    """
    per_pixel = batch * (bytes_per_pixel + 8.0 * channels)
    side = int(math.sqrt(max(memory_budget, 0) / per_pixel))
    side = min(side, max_tile) // multiple * multiple
    floor = -(-(2 * overlap + 1) // multiple) * multiple
    side = max(side, floor, multiple)
    if image_size is None:
        return side
    h, w = image_size
    best, best_work = side, tile_work(h, w, side, overlap, multiple)
    for t in range(side - multiple, floor - 1, -multiple):
        if t - overlap < multiple:
            break
        work = tile_work(h, w, t, overlap, multiple)
        if work < best_work:
            best, best_work = t, work
    return best
