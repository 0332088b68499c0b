"""Tests for restorekit.nets.rednet: Mao et al.'s RED-Net (RED20 / RED30)."""

from __future__ import annotations

import pytest
import torch

from restorekit.nets.common import count_conv_calls, count_parameters
from restorekit.nets.rednet import RedNet
from restorekit.restorers.base import build_net, get_entry


def tiny(c: int = 1, **kw: object) -> RedNet:
    torch.manual_seed(0)
    return RedNet(c, c, **{"features": 8, **kw})


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("hw", [(28, 28), (31, 29), (37, 45)])
@pytest.mark.parametrize("num_layers", [20, 30])
def test_shape_preserved_any_size(c: int, hw: tuple[int, int], num_layers: int) -> None:
    x = torch.rand(1, c, *hw)
    assert tiny(c, num_layers=num_layers).eval()(x).shape == x.shape


@pytest.mark.parametrize("num_layers", [20, 30])
def test_layer_counts_and_parameters(num_layers: int) -> None:
    net = RedNet(num_layers=num_layers)
    n = num_layers // 2
    assert len(net.convs) == len(net.deconvs) == n
    assert count_conv_calls(net, torch.rand(1, 1, 8, 8)) == num_layers
    convs = 640 + (n - 1) * 36_928  # 3x3, 64 maps: first conv 1->64, then 64->64
    deconvs = (n - 1) * 36_928 + 577  # last deconv 64->1
    assert count_parameters(net) == convs + deconvs  # 665,921 for RED20, 1,035,201 for RED30


def test_skip_wiring_matches_reference_red20() -> None:
    """Every two layers c_k joins its mirror deconv (sum then ReLU); the image joins the last."""
    net = tiny(num_layers=20).eval()
    x = torch.rand(1, 1, 17, 13)
    relu = torch.relu
    with torch.no_grad():
        c = [x]
        for conv in net.convs:
            c.append(relu(conv(c[-1])))
        d = net.deconvs
        h = relu(d[0](c[10]))
        h = relu(d[1](h) + c[8])
        h = relu(d[2](h))
        h = relu(d[3](h) + c[6])
        h = relu(d[4](h))
        h = relu(d[5](h) + c[4])
        h = relu(d[6](h))
        h = relu(d[7](h) + c[2])
        h = relu(d[8](h))
        ref = d[9](h) + x
        torch.testing.assert_close(net(x), ref)


def test_zero_weights_give_identity_through_global_residual() -> None:
    net = tiny(3)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
    x = torch.rand(2, 3, 9, 11)
    assert torch.equal(net(x), x)


def test_gradients_reach_first_layer_and_eval_deterministic() -> None:
    net = tiny(3)
    x = torch.rand(2, 3, 24, 24)
    net(x).pow(2).mean().backward()
    assert net.convs[0].weight.grad.abs().sum() > 0
    net.eval()
    assert torch.equal(net(x), net(x))


def test_registry_and_bad_config() -> None:
    entry = get_entry("rednet")
    assert entry.defaults["num_layers"] == 20 and entry.defaults["features"] == 64
    assert "Mao" in entry.paper
    net = build_net("rednet", **{"num_layers": 30, "features": 8, "in_channels": 3,
                                 "out_channels": 3})
    assert isinstance(net, RedNet) and len(net.convs) == 15
    with pytest.raises(ValueError):
        RedNet(num_layers=21)
    assert RedNet(3, 1, features=8)(torch.rand(1, 3, 6, 7)).shape == (1, 1, 6, 7)
