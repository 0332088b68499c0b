"""Tests for restorekit.nets.edsr: shapes, the low-resolution body, its grid, the registry."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from restorekit.nets.common import count_parameters
from restorekit.nets.edsr import EDSR
from restorekit.restorers.base import build_net, get_entry


def tiny(c: int = 1, scale: int = 3, trained: bool = True) -> EDSR:
    """A small EDSR; ``trained`` gives the zero-initialised upsampler random weights too."""
    torch.manual_seed(0)
    net = EDSR(scale=scale, channels=8, num_blocks=2, in_channels=c, out_channels=c)
    if trained:
        nn.init.normal_(net.upsample.weight, std=0.05)
    return net.eval()


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("hw", [(31, 29), (36, 45), (5, 7)])
def test_shape_preserved_for_any_size(c: int, hw: tuple[int, int]) -> None:
    x = torch.rand(2, c, *hw)
    with torch.no_grad():
        assert tiny(c)(x).shape == x.shape


def test_untrained_net_returns_the_enlarged_input() -> None:
    net = tiny(trained=False)
    x = torch.rand(1, 1, 20, 22)
    with torch.no_grad():
        torch.testing.assert_close(net(x), x)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_body_runs_at_low_resolution(scale: int) -> None:
    net = tiny(scale=scale)
    seen: list[tuple[int, ...]] = []
    net.body.register_forward_hook(lambda _m, _i, out: seen.append(tuple(out.shape[-2:])))
    with torch.no_grad():
        net(torch.rand(1, 1, 12 * scale, 10 * scale))
    assert seen == [(12, 10)]
    assert net.multiple == scale


def test_shift_by_the_scale_commutes_and_a_one_pixel_shift_does_not() -> None:
    """The body sees the enlarged image's phases as channels, so moving the image by whole
    low-resolution pixels moves the output with it; moving it by one pixel changes which phase
    is which (why tiles start on multiples of the scale)."""
    net, s = tiny(), 3
    x = torch.rand(1, 1, 96, 96)
    inner = (slice(None), slice(None), slice(36, 60), slice(36, 60))
    with torch.no_grad():
        y = net(x)
        on_grid = net(torch.roll(x, shifts=(s, s), dims=(2, 3)))
        off_grid = net(torch.roll(x, shifts=(1, 1), dims=(2, 3)))
    shifted = torch.roll(y, shifts=(s, s), dims=(2, 3))
    torch.testing.assert_close(on_grid[inner], shifted[inner])
    assert (off_grid[inner] - torch.roll(y, shifts=(1, 1), dims=(2, 3))[inner]).abs().max() > 1e-3


def test_parameter_count() -> None:
    # head 9->64, 16 blocks of two 64->64 convs, body end 64->64, upsampler 64->9 (all with bias)
    conv = 9 * 64 * 64 + 64
    expected = (9 * 9 * 64 + 64) + 33 * conv + (9 * 64 * 9 + 9)
    assert count_parameters(EDSR(scale=3, channels=64, num_blocks=16)) == expected


def test_bad_configs_are_refused() -> None:
    with pytest.raises(ValueError, match="in_channels must equal"):
        EDSR(in_channels=1, out_channels=3)
    with pytest.raises(ValueError, match="scale and channels"):
        EDSR(scale=0)


def test_registered_for_super_resolution() -> None:
    entry = get_entry("edsr")
    assert entry.kind == "network" and entry.tasks == ("sr",)
    assert "Lim" in entry.paper
    net = build_net("edsr", scale=2, channels=4, num_blocks=1)
    assert isinstance(net, EDSR) and net.scale == 2


@pytest.mark.parametrize("bigger", [{"num_blocks": 5}, {"channels": 12},
                                    {"channels": 12, "num_blocks": 4}])
def test_grow_from_a_smaller_net_keeps_its_function_and_trains_the_new_parts(bigger: dict) -> None:
    small = tiny()
    torch.manual_seed(1)
    big = EDSR(**{"scale": 3, "channels": 8, "num_blocks": 2, **bigger})
    nn.init.normal_(big.upsample.weight, std=0.05)
    x = torch.rand(2, 1, 24, 27)
    with torch.no_grad():
        assert not torch.allclose(big(x), small(x))
        big.grow_from(small.state_dict())
        torch.testing.assert_close(big(x), small(x))
    big(x).sub(0.5).square().mean().backward()
    assert big.body[-1].conv2.weight.grad.abs().sum() > 0  # new (or widened) blocks learn


@pytest.mark.parametrize("other", [
    {"num_blocks": 3},              # deeper than the net it should grow
    {"channels": 16},               # wider
    {"scale": 2},                   # another scale: other phases and upsampler
    {"in_channels": 3, "out_channels": 3},
])
def test_grow_from_refuses_what_it_cannot_grow(other: dict) -> None:
    net = EDSR(scale=3, channels=8, num_blocks=2)
    with pytest.raises(ValueError, match="grow"):
        net.grow_from(EDSR(**{"scale": 3, "channels": 8, "num_blocks": 2, **other}).state_dict())
