"""Tests for restorekit.nets.dncnn: shapes, depth, residual learning, registry."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from restorekit.nets.common import count_conv_calls, count_parameters
from restorekit.nets.dncnn import DnCNN
from restorekit.restorers.base import build_net, get_entry

TINY = {"depth": 5, "channels": 8}


def tiny(c: int = 1) -> DnCNN:
    torch.manual_seed(0)
    return DnCNN(**TINY, in_channels=c, out_channels=c)


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("hw", [(31, 29), (37, 45)])
def test_shape_preserved(c: int, hw: tuple[int, int]) -> None:
    x = torch.rand(2, c, *hw)
    assert tiny(c)(x).shape == x.shape


@pytest.mark.parametrize("depth", [17, 20])
def test_conv_count_equals_depth(depth: int) -> None:
    net = DnCNN(depth=depth).eval()
    assert count_conv_calls(net, torch.rand(1, 1, 8, 8)) == depth
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == depth - 2


def test_parameter_count_dncnn_s() -> None:
    # first conv 9*64 + 64 bias, 15 x (9*64*64 conv + 128 BN), last 9*64: the paper's ~0.56 M.
    assert count_parameters(DnCNN(depth=17)) == 640 + 15 * (36_864 + 128) + 576


@pytest.mark.parametrize("train", [True, False])
def test_zero_last_conv_gives_identity(train: bool) -> None:
    net = tiny(3).train(train)
    with torch.no_grad():
        net.dncnn[-1].weight.zero_()
        x = torch.rand(2, 3, 13, 17)
        torch.testing.assert_close(net(x), x)


def test_output_is_input_minus_residual() -> None:
    net = tiny().eval()
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(net(x), x - net.dncnn(x))


def test_port_layout() -> None:
    """Layer indices and biases match the authors' PyTorch port (state dicts load unchanged)."""
    net = DnCNN(depth=17)
    keys = net.state_dict().keys()
    assert {"dncnn.0.weight", "dncnn.0.bias", "dncnn.2.weight", "dncnn.3.running_mean",
            "dncnn.47.weight"} <= set(keys)
    assert "dncnn.2.bias" not in keys and "dncnn.47.bias" not in keys
    bn = net.dncnn[3]
    assert isinstance(bn, nn.BatchNorm2d) and bn.eps == pytest.approx(1e-4)


def test_gradients_reach_first_layer() -> None:
    net = tiny()
    net(torch.rand(2, 1, 16, 16)).square().mean().backward()
    assert net.dncnn[0].weight.grad.abs().sum() > 0


def test_eval_is_deterministic() -> None:
    net = tiny().eval()
    x = torch.rand(1, 1, 20, 24)
    with torch.no_grad():
        assert torch.equal(net(x), net(x))


def test_build_from_registry() -> None:
    entry = get_entry("dncnn")
    assert {"denoise", "jpeg", "sr"} <= set(entry.tasks) and entry.channels == (1, 3)
    assert build_net("dncnn").depth == 17
    net = build_net("dncnn", **{"depth": 20, "channels": 8, "in_channels": 3, "out_channels": 3})
    assert net.depth == 20 and net.in_channels == net.out_channels == 3


def test_invalid_config_rejected() -> None:
    with pytest.raises(ValueError):
        DnCNN(in_channels=1, out_channels=3)
    with pytest.raises(ValueError):
        DnCNN(depth=1)
