"""``NetworkRestorer``: any registered ``nn.Module`` behind the :class:`Restorer` interface.

It converts numpy HxW / HxWxC images in [0, 1] to NCHW batches and back, runs the net in eval
mode under ``torch.inference_mode()`` on the chosen device (cpu, cuda, mps), passes the noise
level to nets that take one, adapts channel counts, and tiles large images within a memory
budget (:mod:`restorekit.restorers.tiling`) so seams are blended and memory stays bounded.

Channel adaptation (image channels vs the net's ``in_channels``):

- a 1-channel net on an RGB (or any C-channel) image denoises each channel as its own gray
  image (the channels go through the net as a batch); it ignores colour correlations, so a
  colour net is better when one exists;
- a 3-channel net on a gray image gets the gray image replicated to 3 channels, and its 3 output
  channels are averaged back to one;
- any other mismatch is an error.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from restorekit.device import resolve_device
from restorekit.errors import RestorekitError, WeightsError, WeightsMismatchError
from restorekit.restorers.base import Restorer, as_input_image, build_net, get_entry
from restorekit.restorers.self_ensemble import ensemble_multiple, self_ensemble
from restorekit.restorers.tiling import (
    Progress,
    activation_bytes_per_pixel,
    choose_tile,
    tiled_apply,
)

__all__ = ["NetworkRestorer"]

#: Options of the restorer itself; everything else in a config goes to the net's constructor.
RESTORER_OPTIONS = ("tile", "tile_overlap", "memory_budget_mb", "progress", "batch_tiles",
                    "self_ensemble", "content_grid")


def _as_image(image: Any) -> np.ndarray:
    """``image`` as a float32 array torch can wrap without copying twice."""
    a = as_input_image(image)
    if not a.flags.writeable or any(st < 0 for st in a.strides):
        a = a.copy()  # torch.from_numpy wants a writeable array with positive strides
    return a


class NetworkRestorer(Restorer):
    """Restore images with a network (``nn.Module`` following the nets conventions).

    Parameters
    ----------
    net:
        The module: ``forward(x)`` on NxCxHxW in [0, 1] (``forward(x, sigma)`` with sigma on the
        0-1 scale if ``net.accepts_sigma``), attributes ``in_channels`` and ``out_channels``,
        optional ``multiple`` (tiles are made a multiple of it).
    name:
        Registry name for reports (default: the class name).
    device:
        "cpu", "cuda", "cuda:N", "mps", or None/"auto" for the best available.
    tile:
        None: tile only when the whole image would exceed ``memory_budget_mb``, with the largest
        tile that fits; 0: never tile; an int: tiles of that size (rounded down to ``multiple``).
    tile_overlap:
        Minimum overlap between neighbouring tiles, in pixels (blended, see ``tiling``).
    memory_budget_mb:
        Device memory one forward pass may use (MiB), estimated per pixel by measuring the net
        once (:func:`~restorekit.restorers.tiling.activation_bytes_per_pixel`). Host memory for
        the whole output (4 bytes per pixel and channel) comes on top.
    progress:
        None/False: silent; True: a tqdm bar over tiles; a callable: ``progress(done, total)``.
    batch_tiles:
        Tiles per forward call (more can be faster on a GPU; the budget accounts for it).
    self_ensemble:
        Average the outputs over the 8 flips and rotations of each input (x8 self-ensemble,
        :mod:`~restorekit.restorers.self_ensemble`): a little better, 8 times slower.
    content_grid:
        Period of a grid in the image content that the self-ensemble's flips and turns must
        keep: ``JPEG_GRID`` (16) for JPEG blocking, 1 (none) for noise or blur.
    """

    def __init__(self, net: nn.Module, *, name: str | None = None, device: str | None = None,
                 tile: int | None = None, tile_overlap: int = 32,
                 memory_budget_mb: float = 1024, progress: Progress = None,
                 batch_tiles: int = 1, self_ensemble: bool = False,
                 content_grid: int = 1) -> None:
        if tile is not None and tile < 0:
            raise RestorekitError(f"tile must be None, 0 (never tile) or positive, got {tile}")
        if tile_overlap < 0 or memory_budget_mb <= 0 or batch_tiles < 1 or content_grid < 1:
            raise RestorekitError("tile_overlap must be >= 0, memory_budget_mb > 0, "
                                  "batch_tiles >= 1 and content_grid >= 1")
        self.device = resolve_device(device)
        self.net = net.to(self.device).eval()
        self.name = name or type(net).__name__  # type: ignore[misc]  # instance, not class
        self.uses_sigma = bool(getattr(net, "accepts_sigma", False))  # type: ignore[misc]
        self.in_channels = int(getattr(net, "in_channels", 0) or 0)
        self.out_channels = int(getattr(net, "out_channels", self.in_channels) or 0)
        if self.in_channels < 1:
            raise RestorekitError(f"{self.name}: the net has no in_channels attribute")
        self.multiple = max(1, int(getattr(net, "multiple", 1) or 1))
        self.tile = tile
        self.tile_overlap = tile_overlap
        self.memory_budget_mb = memory_budget_mb
        self.progress = progress
        self.batch_tiles = batch_tiles
        self.self_ensemble = bool(self_ensemble)
        self.content_grid = int(content_grid)
        self.last_sigma: float | None = None  # the sigma the last call used (given or estimated)
        self.last_tile: int | None = None  # the tile size the last call used (None: whole image)
        self._bytes_per_pixel: dict[int, float] = {}

    # -- construction from the registry -----------------------------------------------------

    @classmethod
    def from_registry(cls, name: str, *, weights: str | None = None, device: str | None = None,
                      **config: Any) -> NetworkRestorer:
        """Build the net registered as ``name`` and load ``weights`` into it.

        ``config`` holds the net's constructor arguments, merged over the config in the model
        card beside ``weights`` (when there is one), and the restorer's own options
        (``tile``, ``tile_overlap``, ``memory_budget_mb``, ``progress``, ``batch_tiles``).
        Any mismatch between the weights and the architecture raises :class:`WeightsError`.
        Without ``weights`` the net keeps its random initialisation (a warning says so).
        """
        from restorekit.weights import card_path, load_weights, read_card

        options = {k: config.pop(k) for k in RESTORER_OPTIONS if k in config}
        entry = get_entry(name)
        if entry.kind != "network":
            raise RestorekitError(f"{name!r} is a classical method, not a network")
        card = read_card(weights) if weights is not None else None
        if card is not None and card.get("arch") != name:
            raise WeightsError(f"{weights}: its model card is for {card.get('arch')!r}, "
                               f"not {name!r}")
        merged = {**(card.get("config") or {} if card else {}), **config}
        try:
            net = build_net(name, **merged)
        except (TypeError, ValueError) as exc:
            where = f" (config from {weights}'s model card)" if card else ""
            err = WeightsError if card else RestorekitError
            raise err(f"cannot build {name!r} with {merged}{where}: {exc}") from None
        if weights is not None:
            try:
                load_weights(net, weights, sha256=card.get("sha256") if card else None)
            except WeightsMismatchError as exc:
                if card is not None:
                    raise
                given = ", ".join(f"{k}={v}" for k, v in config.items()) or "its defaults"
                raise WeightsError(
                    f"{exc}. No model card ({card_path(weights).name}) is beside the weights, "
                    f"so {name} was built with {given}: give the config it was trained with "
                    "(--set KEY=VALUE, see `restorekit models`), or put its card beside it"
                    ) from exc
        else:
            warnings.warn(f"{name}: no weights given, the network has random weights",
                          stacklevel=3)
        return cls(net, name=name, device=device, **options)

    # -- restoring ------------------------------------------------------------------------

    def restore(self, image: np.ndarray, sigma: float | None = None) -> np.ndarray:
        """Restore ``image`` (HxW or HxWxC float in [0, 1]); same shape, float32, in [0, 1]."""
        img = _as_image(image)
        c_img = 1 if img.ndim == 2 else img.shape[2]
        forward = self._adapter(c_img, self._sigma_arg(img, sigma))
        if self.self_ensemble:
            forward = self_ensemble(forward, self.grid)
        x = torch.from_numpy(img)
        x = x[None, None] if img.ndim == 2 else x.permute(2, 0, 1)[None]  # a view, no copy
        with torch.inference_mode():
            tile = self._tile_for(img.shape[0], img.shape[1], c_img)
            self.last_tile = tile
            if tile is None:
                out = forward(x.to(self.device)).to("cpu", torch.float32)
            else:
                overlap = max(0, min(self.tile_overlap, tile - self.grid))
                out = tiled_apply(forward, x, tile=tile, overlap=overlap,
                                  multiple=self.grid, batch_tiles=self.batch_tiles,
                                  progress=self.progress, device=self.device)
        if tuple(out.shape) != (1, c_img, *img.shape[:2]):
            raise RestorekitError(f"{self.name} returned shape {tuple(out.shape)} for an image "
                                  f"of shape {img.shape}")
        res = out[0, 0].numpy() if img.ndim == 2 else np.ascontiguousarray(
            out[0].permute(1, 2, 0).numpy())
        del out
        return np.clip(res, 0.0, 1.0, out=res)

    @property
    def grid(self) -> int:
        """The period tiles start on: the net's ``multiple``, widened for the self-ensemble so
        each tile keeps the content's grid (:mod:`~restorekit.restorers.self_ensemble`)."""
        return (ensemble_multiple(self.multiple, self.content_grid) if self.self_ensemble
                else self.multiple)

    def _sigma_arg(self, img: np.ndarray, sigma: float | None) -> float | None:
        """The 0-1 scale sigma for ``forward`` (estimated when needed), or None."""
        if not self.uses_sigma:
            self.last_sigma = None
            return None
        if sigma is None:
            from restorekit.noise_estimation import estimate_sigma

            sigma = estimate_sigma(np.clip(img, 0.0, 1.0))
        sigma = float(sigma)
        if not math.isfinite(sigma) or sigma < 0:
            raise RestorekitError(f"sigma must be a finite number >= 0 (0-255 scale), got {sigma}")
        self.last_sigma = sigma
        return sigma / 255.0

    def _adapter(self, c_img: int, sigma: float | None) -> Callable[[torch.Tensor], torch.Tensor]:
        """``forward`` on NxC_imgxhxw batches, adapting channels to the net (module docstring)."""
        net, cin = self.net, self.in_channels

        def call(t: torch.Tensor) -> torch.Tensor:
            return net(t) if sigma is None else net(t, sigma)

        if c_img == cin:
            return call
        if cin == 1:
            def per_channel(t: torch.Tensor) -> torch.Tensor:
                n, c, h, w = t.shape
                return call(t.reshape(n * c, 1, h, w)).reshape(n, c, h, w)

            return per_channel
        if cin == 3 and c_img == 1:
            def replicate(t: torch.Tensor) -> torch.Tensor:
                return call(t.expand(-1, 3, -1, -1).contiguous()).mean(1, keepdim=True)

            return replicate
        raise RestorekitError(f"{self.name} takes {cin}-channel images; cannot restore an image "
                              f"with {c_img} channels")

    # -- memory -----------------------------------------------------------------------------

    def bytes_per_pixel(self, batch: int = 1) -> float:
        """Measured peak memory of ``batch`` images through the net, per pixel of one image.

        Measured once per batch size on a 64x64 input and cached.
        """
        if batch not in self._bytes_per_pixel:
            sigma = 25.0 / 255.0 if self.uses_sigma else None
            fwd = (lambda t: self.net(t, sigma)) if sigma is not None else None
            size = max(64, self.multiple * math.ceil(64 / self.multiple))
            bpp = activation_bytes_per_pixel(self.net, self.in_channels, device=self.device,
                                             size=size, batch=batch, forward=fwd)
            self._bytes_per_pixel[batch] = bpp * batch
        return self._bytes_per_pixel[batch]

    def _tile_for(self, h: int, w: int, c_img: int) -> int | None:
        """The tile size for an image (None: process it whole)."""
        if self.tile == 0:
            return None
        if self.tile is not None:
            t = max(self.grid, self.tile // self.grid * self.grid)
            return None if t >= h and t >= w else t
        batch = c_img if self.in_channels == 1 else 1  # channels of a gray net run as a batch
        channels = max(c_img, self.in_channels)
        budget = self.memory_budget_mb * 2**20
        if h * w * (self.bytes_per_pixel(batch) + 8.0 * channels) <= budget:
            return None
        return choose_tile(int(budget), channels=channels * self.batch_tiles,
                           bytes_per_pixel=self.bytes_per_pixel(batch * self.batch_tiles),
                           overlap=self.tile_overlap, multiple=self.grid,
                           image_size=(h, w))
