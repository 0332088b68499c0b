"""Tests for restorekit.nets.memnet: shapes, structure counts, weight sharing, multi-supervision."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from restorekit.nets.common import count_conv_calls, count_parameters
from restorekit.nets.memnet import MemNet, RecursiveUnit, multi_supervision_loss
from restorekit.restorers.base import build_net, get_entry

TINY = {"channels": 8, "num_memblocks": 2, "num_resblocks": 2}


def tiny(c: int = 1) -> MemNet:
    torch.manual_seed(0)
    return MemNet(**TINY, in_channels=c, out_channels=c)


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("hw", [(31, 29), (37, 45)])
def test_shape_preserved(c: int, hw: tuple[int, int]) -> None:
    x = torch.rand(2, c, *hw)
    assert tiny(c)(x).shape == x.shape


def test_gradients_reach_first_layer() -> None:
    net = tiny()
    net(torch.rand(2, 1, 16, 16)).square().mean().backward()
    assert net.fe_conv.weight.grad is not None
    assert net.fe_conv.weight.grad.abs().sum() > 0


def test_eval_is_deterministic() -> None:
    net = tiny().eval()
    x = torch.rand(1, 1, 20, 24)
    with torch.no_grad():
        assert torch.equal(net(x), net(x))


def test_build_from_registry() -> None:
    entry = get_entry("memnet")
    assert entry.kind == "network" and {"denoise", "jpeg", "sr"} <= set(entry.tasks)
    net = build_net("memnet", **TINY)
    assert isinstance(net, MemNet) and net.in_channels == net.out_channels == 1
    assert build_net("memnet", **{**TINY, "in_channels": 3, "out_channels": 3}).in_channels == 3


def test_m6r6_executes_80_conv_layers() -> None:
    """The paper's depth M(2R+1)+2: FENet 1, per block 2R recursion convs + 1 gate, ReconNet 1."""
    net = MemNet().eval()  # M6R6, 64 features
    assert count_conv_calls(net, torch.rand(1, 1, 8, 8)) == 80


@pytest.mark.parametrize(("m", "r"), [(2, 2), (3, 1), (1, 4)])
def test_conv_count_formula(m: int, r: int) -> None:
    net = MemNet(channels=4, num_memblocks=m, num_resblocks=r).eval()
    assert count_conv_calls(net, torch.rand(1, 1, 6, 6)) == m * (2 * r + 1) + 2


def test_m6r6_parameter_count() -> None:
    net = MemNet()
    conv_weights = sum(p.numel() for p in net.parameters() if p.dim() == 4)
    assert conv_weights == 676_992  # the paper's "677K" counts convolution weights
    assert abs(count_parameters(net) - 677_000) / 677_000 < 0.03


def test_recursive_unit_weights_are_shared() -> None:
    net = tiny()
    for block in net.memory_blocks:
        units = [m for m in block.modules() if isinstance(m, RecursiveUnit)]
        assert len(units) == 1
        assert sum(isinstance(m, nn.Conv2d) for m in units[0].modules()) == 2
    # ...yet each memory block runs its two shared convs R times.
    calls = 0

    def hook(*_: object) -> None:
        nonlocal calls
        calls += 1

    unit = net.memory_blocks[0].recursive_unit
    handles = [unit.conv_a.register_forward_hook(hook), unit.conv_b.register_forward_hook(hook)]
    net.eval()(torch.rand(1, 1, 8, 8))
    for h in handles:
        h.remove()
    assert calls == 2 * TINY["num_resblocks"]


def test_forward_with_intermediates() -> None:
    net = tiny().eval()
    with torch.no_grad():
        net.weights.copy_(torch.tensor([0.3, 0.9]))
        x = torch.rand(2, 1, 12, 10)
        final, inter = net.forward_with_intermediates(x)
        assert len(inter) == TINY["num_memblocks"]
        assert all(y.shape == x.shape for y in inter)
        torch.testing.assert_close(final, 0.3 * inter[0] + 0.9 * inter[1])
        torch.testing.assert_close(net(x), final)


def test_shared_reconstruction_matches_separate_calls() -> None:
    """Running the shared ReconNet once on stacked branches equals running it per branch."""
    net = tiny().eval()
    x = torch.rand(1, 1, 9, 11)
    with torch.no_grad():
        feat = net.fe_conv(F.relu(net.fe_norm(x)))
        memories = [feat]
        for block in net.memory_blocks:
            feat = block(feat, memories)
            memories.append(feat)
        expected = [net.recon_conv(F.relu(norm(b))) + x
                    for norm, b in zip(net.recon_norms, memories[1:], strict=True)]
        _, inter = net.forward_with_intermediates(x)
    for got, want in zip(inter, expected, strict=True):
        torch.testing.assert_close(got, want)


def test_multi_supervision_loss_formula() -> None:
    target = torch.ones(1, 1, 2, 2)
    final = torch.zeros(1, 1, 2, 2)  # MSE 1
    inter = [torch.full((1, 1, 2, 2), 2.0), torch.full((1, 1, 2, 2), 0.5)]  # MSE 1 and 0.25
    loss = multi_supervision_loss(final, inter, target, alpha=0.5)
    assert loss.item() == pytest.approx(0.5 * 1.0 + 0.5 / 2 * (1.0 + 0.25))
    assert multi_supervision_loss(final, inter, target, alpha=1.0).item() == pytest.approx(1.0)


def test_multi_supervision_loss_is_differentiable() -> None:
    net = tiny()
    x = torch.rand(2, 1, 12, 12)
    final, inter = net.forward_with_intermediates(x)
    multi_supervision_loss(final, inter, torch.rand_like(x)).backward()
    assert net.weights.grad is not None and net.weights.grad.abs().sum() > 0
    assert net.fe_conv.weight.grad.abs().sum() > 0


def test_mismatched_channels_rejected() -> None:
    with pytest.raises(ValueError):
        MemNet(in_channels=1, out_channels=3)


def test_zero_recon_init_starts_at_the_identity() -> None:
    torch.manual_seed(0)
    net = MemNet(**TINY, recon_init="zero").train()
    x = torch.rand(2, 1, 16, 16)
    assert torch.allclose(net(x), x, atol=1e-6)
    assert not torch.allclose(tiny()(x), x, atol=1e-2)     # He init: far from the identity
    net(x).sub(1.0 - x).square().mean().backward()
    assert net.recon_conv.weight.grad.abs().sum() > 0     # and it can still learn


def test_unknown_recon_init_rejected() -> None:
    with pytest.raises(ValueError, match="recon_init"):
        MemNet(**TINY, recon_init="xavier")
