"""Tests for restorekit.nets.unet (rk-unet): shapes, noise-level map, size, registry."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from restorekit.nets.common import count_parameters
from restorekit.nets.unet import RKUNet, estimate_noise_level
from restorekit.restorers.base import build_net, get_entry

TINY = {"channels": (8, 16, 32), "num_blocks": 1}


def tiny(c: int = 1, noise_map: bool = True, **kw: object) -> RKUNet:
    torch.manual_seed(0)
    return RKUNet(**{**TINY, **kw}, in_channels=c, out_channels=c, noise_map=noise_map)


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("hw", [(31, 29), (37, 45), (3, 5), (64, 64)])
def test_shape_preserved(c: int, hw: tuple[int, int]) -> None:
    x = torch.rand(2, c, *hw)
    assert tiny(c)(x, 0.1).shape == x.shape
    assert tiny(c, noise_map=False)(x).shape == x.shape


@pytest.mark.parametrize("channels", [(8,), (8, 16), (8, 16, 32, 64)])
def test_depth_knob(channels: tuple[int, ...]) -> None:
    net = tiny(channels=channels, num_blocks=[1] * len(channels))
    x = torch.rand(1, 1, 37, 45)
    assert net(x, 0.05).shape == x.shape


def test_noise_map_changes_output() -> None:
    net = tiny().eval()
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(net(x, 0.02), net(x, 0.2))


def test_float_and_tensor_sigma_agree() -> None:
    net = tiny().eval()
    x = torch.rand(2, 1, 24, 20)
    with torch.no_grad():
        both = net(x, torch.tensor([0.05, 0.15]))
        torch.testing.assert_close(both[:1], net(x[:1], 0.05))
        torch.testing.assert_close(both[1:], net(x[1:], 0.15))
        torch.testing.assert_close(net(x, 0.1), net(x, torch.tensor([0.1, 0.1])))
        torch.testing.assert_close(net(x, 0.1), net(x, torch.tensor(0.1)))
    with pytest.raises(ValueError):
        net(x, torch.tensor([0.1, 0.2, 0.3]))


def test_sigma_none_uses_estimate() -> None:
    net = tiny().eval()
    x = (0.5 + 0.1 * torch.randn(1, 1, 64, 64, generator=torch.Generator().manual_seed(0)))
    with torch.no_grad():
        est = estimate_noise_level(F.pixel_unshuffle(x, 2))
        torch.testing.assert_close(net(x), net(x, est))
    assert est.item() == pytest.approx(0.1, rel=0.1)


def test_noise_map_off_ignores_sigma() -> None:
    net = tiny(noise_map=False).eval()
    assert net.accepts_sigma is False and tiny().accepts_sigma is True
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(net(x, 0.02), net(x, 0.2))


def test_default_parameter_count_in_target_range() -> None:
    n = count_parameters(build_net("rk-unet"))
    assert 500_000 <= n <= 1_500_000
    assert n == 1_042_976


def test_bias_free_by_default_is_positively_homogeneous() -> None:
    """Bias-free: f(a x) = a f(x) for a > 0 (with the noise map off); bias=True breaks that."""
    x = torch.rand(1, 1, 16, 16)
    free, biased = tiny(noise_map=False).eval(), tiny(noise_map=False, bias=True).eval()
    assert all(m.bias is None for m in free.modules() if isinstance(m, torch.nn.Conv2d))
    n_bias = sum(m.bias.numel() for m in biased.modules()
                 if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)))
    assert count_parameters(biased) == count_parameters(free) + n_bias > count_parameters(free)
    for m in biased.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            torch.nn.init.constant_(m.bias, 0.05)
    with torch.no_grad():
        torch.testing.assert_close(free(0.5 * x), 0.5 * free(x))
        assert not torch.allclose(biased(0.5 * x), 0.5 * biased(x), atol=1e-4)


def test_gradients_reach_first_layer() -> None:
    net = tiny()
    net(torch.rand(2, 1, 16, 16), 0.1).square().mean().backward()
    assert net.head.weight.grad.abs().sum() > 0


def test_eval_is_deterministic() -> None:
    net = tiny(3).eval()
    x = torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        assert torch.equal(net(x, 0.1), net(x, 0.1))


def test_build_from_registry() -> None:
    entry = get_entry("rk-unet")
    assert entry.kind == "network" and "denoise" in entry.tasks
    net = build_net("rk-unet", **{"channels": [8, 16], "num_blocks": 1, "in_channels": 3,
                                  "out_channels": 3, "noise_map": False})
    assert net.in_channels == net.out_channels == 3 and not net.accepts_sigma


def test_invalid_config_rejected() -> None:
    with pytest.raises(ValueError):
        RKUNet(in_channels=1, out_channels=3)
    with pytest.raises(ValueError):
        RKUNet(channels=(8, 16), num_blocks=(1, 1, 1))
    with pytest.raises(ValueError):
        RKUNet(tail_init="ones")


@pytest.mark.parametrize("bias", [False, True])
def test_zero_tail_starts_as_identity_and_still_learns(bias: bool) -> None:
    net = tiny(bias=bias, tail_init="zero")
    x = torch.rand(2, 1, 19, 23)
    assert torch.equal(net(x, 0.1), x)  # odd sizes: padded, then cropped back exactly
    assert not torch.equal(tiny(bias=bias)(x, 0.1), x)  # the default init is not
    net(x, 0.1).sub(0.5).square().mean().backward()
    assert net.tail.weight.grad.abs().sum() > 0  # the first step moves the tail


def test_grow_from_keeps_the_smaller_nets_function_and_then_learns() -> None:
    torch.manual_seed(0)
    small = RKUNet(channels=(8, 16), num_blocks=1, noise_map=False)
    big = RKUNet(channels=(8, 16), num_blocks=(2, 3), noise_map=False, bias=True)
    x = torch.rand(2, 1, 19, 23)
    assert not torch.allclose(big(x), small(x))
    big.grow_from(small.state_dict())
    assert torch.allclose(big(x), small(x), atol=1e-6)
    big(x).sub(0.5).square().mean().backward()
    new_block = big.bottleneck[2]
    assert new_block.conv2.weight.grad.abs().sum() > 0  # the zeroed blocks do train
    assert big.head.bias.grad.abs().sum() > 0


def test_grow_from_a_narrower_net_keeps_its_function_and_trains_the_new_channels() -> None:
    torch.manual_seed(0)
    small = RKUNet(channels=(8, 16), num_blocks=1, noise_map=True)
    big = RKUNet(channels=(12, 24), num_blocks=(1, 2), noise_map=True, bias=True)
    x = torch.rand(2, 1, 19, 23)
    big.grow_from(small.state_dict())
    assert torch.allclose(big(x, 0.1), small(x, 0.1), atol=1e-6)
    assert big.head.weight[8:].abs().sum() > 0  # new channels carry features from the start
    big(x, 0.1).sub(0.5).square().mean().backward()
    assert big.tail.weight.grad[:, 8:].abs().sum() > 0  # and their readers start to learn
    assert big.ups[0].weight.grad[16:].abs().sum() > 0  # (ConvTranspose2d: inputs first)


@pytest.mark.parametrize("other", [
    {"channels": (8, 24), "num_blocks": 1},             # wider than the net it should grow
    {"channels": (8, 16, 32), "num_blocks": 1},         # another number of levels
    {"channels": (8, 16), "num_blocks": 3},             # deeper than the net it should grow
    {"channels": (8, 16), "num_blocks": 1, "bias": True},  # biases the bias-free net lacks
    {"channels": (8, 16), "num_blocks": 1, "noise_map": True},  # another input
    {"channels": (8, 16), "num_blocks": 1, "in_channels": 3, "out_channels": 3},
])
def test_grow_from_refuses_what_it_cannot_grow(other: dict) -> None:
    net = RKUNet(channels=(8, 16), num_blocks=2, noise_map=False)
    with pytest.raises(ValueError, match="grow"):
        net.grow_from(RKUNet(**{"noise_map": False, **other}).state_dict())
