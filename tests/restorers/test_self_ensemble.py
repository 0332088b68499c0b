"""x8 self-ensemble: the eight transforms are inverted exactly, and the average is of them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from restorekit.restorers.network import NetworkRestorer
from restorekit.restorers.self_ensemble import (
    JPEG_GRID,
    TRANSFORMS,
    _apply,
    _invert,
    ensemble_multiple,
    self_ensemble,
)


def test_eight_distinct_transforms_each_inverted() -> None:
    x = torch.arange(2 * 3 * 5 * 7, dtype=torch.float32).reshape(2, 3, 5, 7)
    seen = set()
    for k, flip in TRANSFORMS:
        y = _apply(x, k, flip)
        assert y.shape[-2:] == ((7, 5) if k % 2 else (5, 7))
        assert torch.equal(_invert(y, k, flip), x)
        seen.add(tuple(y.flatten().tolist()))
    assert len(TRANSFORMS) == len(seen) == 8


def test_equivariant_forward_is_unchanged() -> None:
    def square(t: torch.Tensor) -> torch.Tensor:  # pointwise: commutes with every transform
        return t * t

    x = torch.rand(1, 1, 6, 9, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(self_ensemble(square)(x), square(x))


def test_identity_forward_leaves_the_input_alone() -> None:
    x = torch.rand(1, 2, 5, 5, generator=torch.Generator().manual_seed(1))
    before = x.clone()
    assert torch.allclose(self_ensemble(lambda t: t)(x), before)
    assert torch.equal(x, before)  # the accumulator never aliases the input


def test_averages_the_transformed_answers() -> None:
    # A forward that is not equivariant (it adds a ramp along W): the ensemble averages the
    # ramp over the 8 orientations, so what is left is the mean of the 8 back-transformed ramps.
    def ramp(t: torch.Tensor) -> torch.Tensor:
        return t + torch.linspace(0, 1, t.shape[-1])

    x = torch.zeros(1, 1, 4, 4)
    expected = sum(_invert(ramp(_apply(x, k, f)), k, f) for k, f in TRANSFORMS) / 8
    out = self_ensemble(ramp)(x)
    assert torch.allclose(out, expected)
    assert torch.allclose(out, torch.full_like(out, 0.5))  # symmetric: every pixel averages to 0.5


def _block_edges(t: torch.Tensor) -> torch.Tensor:
    """``t`` plus 1 on the rows and columns beside each boundary of an 8x8 grid anchored at the
    top-left corner: a stand-in for a deblocker that knows where a JPEG's blocks are."""
    i = torch.arange(t.shape[-2])[:, None] % 8
    j = torch.arange(t.shape[-1]) % 8
    return t + ((i == 0) | (i == 7)).float() + ((j == 0) | (j == 7)).float()


def test_padding_keeps_a_top_left_grid_in_place() -> None:
    # 12 x 20 is no multiple of 8: a flip alone would move the grid, so the ensemble would
    # smear the block edges; padded to 16 x 24 each transform maps the grid onto itself.
    x = torch.zeros(1, 1, 12, 20)
    assert torch.allclose(self_ensemble(_block_edges, multiple=8)(x), _block_edges(x))
    assert not torch.allclose(self_ensemble(_block_edges)(x), _block_edges(x))


def test_padding_is_cropped_from_an_upscaled_answer() -> None:
    def upscale(t: torch.Tensor) -> torch.Tensor:
        return t.repeat_interleave(3, -2).repeat_interleave(3, -1)

    x = torch.rand(1, 1, 5, 7, generator=torch.Generator().manual_seed(2))
    out = self_ensemble(upscale, multiple=16)(x)
    assert out.shape == (1, 1, 15, 21)
    assert torch.allclose(out, upscale(x))


def test_ensemble_multiple_covers_the_net_and_the_content_grids() -> None:
    assert ensemble_multiple(1, JPEG_GRID) == ensemble_multiple(8, JPEG_GRID) == 16
    assert ensemble_multiple(32, JPEG_GRID) == 32 and ensemble_multiple(12, JPEG_GRID) == 48
    assert ensemble_multiple(8) == 8 and ensemble_multiple(1) == 1  # noise has no grid


class SymmetricBlur(nn.Module):
    """A zero-padded 3x3 cross blur: it commutes with every flip and quarter turn."""

    in_channels = out_channels = 1
    multiple = 8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = torch.tensor([[0, 1, 0], [1, 4, 1], [0, 1, 0]], dtype=x.dtype) / 8
        return nn.functional.conv2d(x, k[None, None], padding=1)


def test_a_denoiser_ensemble_does_not_pad_beyond_the_nets_multiple() -> None:
    # Padding a 48x56 image to 16 would put reflected pixels beside the right border, and the
    # average of an equivariant net would then differ from one pass there.
    img = np.random.default_rng(3).random((48, 56)).astype(np.float32)
    net = SymmetricBlur()
    plain = NetworkRestorer(net, device="cpu", tile=0).restore(img)
    ens = NetworkRestorer(net, device="cpu", tile=0, self_ensemble=True)
    assert ens.grid == 8
    assert np.abs(ens.restore(img) - plain).max() < 1e-5
    jpeg = NetworkRestorer(net, device="cpu", tile=0, self_ensemble=True,
                           content_grid=JPEG_GRID)
    assert jpeg.grid == 16 and np.abs(jpeg.restore(img) - plain).max() > 1e-3


class Biased(nn.Module):
    """A conv net whose error depends on orientation (a one-sided kernel)."""

    in_channels = out_channels = 1

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0, 0, 1, 1] = 0.5
            self.conv.weight[0, 0, 1, 2] = 0.5  # averages each pixel with its right neighbour

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


@pytest.mark.parametrize("tile", [0, 40])
def test_network_restorer_option_matches_the_ensemble(tile: int) -> None:
    rng = np.random.default_rng(0)
    img = rng.random((40, 52)).astype(np.float32)
    net = Biased()
    plain = NetworkRestorer(net, device="cpu", tile=tile, tile_overlap=8).restore(img)
    ens = NetworkRestorer(net, device="cpu", tile=tile, tile_overlap=8,
                          self_ensemble=True).restore(img)
    with torch.inference_mode():
        x = torch.from_numpy(img)[None, None]
        ref = self_ensemble(net, ensemble_multiple(1))(x)[0, 0].clamp(0, 1).numpy()
    assert np.abs(ens[2:-2, 2:-2] - ref[2:-2, 2:-2]).max() < 1e-5
    # the ensemble of a one-sided blur is a symmetric (3x3 cross) blur: it differs from plain
    assert np.abs(ens - plain).max() > 0.05


class BlockEdges(nn.Module):
    """A net that marks an 8x8 grid anchored at its input's top-left corner (see _block_edges)."""

    in_channels = out_channels = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.25 * (_block_edges(torch.zeros_like(x)))


@pytest.mark.parametrize("tile", [0, 40])
def test_tiles_of_the_ensemble_start_on_the_jpeg_grid(tile: int) -> None:
    # with tiles starting off the 8x8 grid, each tile would mark a grid of its own
    img = np.zeros((50, 70), np.float32)
    restorer = NetworkRestorer(BlockEdges(), device="cpu", tile=tile, tile_overlap=8,
                               self_ensemble=True, content_grid=JPEG_GRID)
    out = restorer.restore(img)
    assert restorer.last_tile == (tile // 16 * 16 or None)
    expected = BlockEdges()(torch.from_numpy(img)[None, None])[0, 0].numpy()
    assert np.abs(out - expected).max() < 1e-6
