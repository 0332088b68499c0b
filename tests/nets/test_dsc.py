"""Tests for restorekit.nets.dsc: Zhao's 10-layer conv-deconv, plain and with gated DSC."""

from __future__ import annotations

import math

import pytest
import torch

from restorekit.nets.common import count_parameters
from restorekit.nets.dsc import ConvDeconv10, Dsc10
from restorekit.restorers.base import build_net, get_entry

TABLE_1 = [  # (C, H, W) of Conv-1..5 then Deconv-1..5 for a 64x64x3 input (518 -> 512)
    (64, 64, 64), (64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4),
    (256, 8, 8), (128, 16, 16), (64, 32, 32), (64, 64, 64), (3, 64, 64),
]


def seeded(cls: type[ConvDeconv10] = Dsc10, **kw: object) -> ConvDeconv10:
    torch.manual_seed(0)
    return cls(**kw)


@pytest.mark.parametrize("name", ["conv-deconv10", "dsc10"])
def test_layer_shapes_follow_table_1(name: str) -> None:
    net = build_net(name).eval()
    shapes: list[tuple[int, ...]] = []
    layers = list(net.convs) + list(net.deconvs)
    hooks = [m.register_forward_hook(lambda _m, _i, o: shapes.append(tuple(o.shape[1:])))
             for m in layers]
    with torch.no_grad():
        net(torch.rand(1, 3, 64, 64))
    for h in hooks:
        h.remove()
    assert shapes == TABLE_1


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("hw", [(64, 64), (31, 29), (37, 45)])
def test_shape_preserved_any_size(c: int, hw: tuple[int, int]) -> None:
    x = torch.rand(1, c, *hw)
    y = seeded(in_channels=c, out_channels=c).eval()(x)
    assert y.shape == x.shape
    assert (y >= 0).all()  # ReLU in all layers, the output one included


def test_default_deltas_and_registry() -> None:
    net = build_net("dsc10")
    assert isinstance(net, Dsc10) and net.dsc
    assert net.deltas().tolist() == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert get_entry("dsc10").defaults["deltas"] == (0.1, 0.2, 0.3, 0.4)
    assert not build_net("conv-deconv10").dsc
    cfg = {"in_channels": 1, "out_channels": 1, "deltas": [0.5, 0.5, 0.5, 0.5],
           "learnable_gates": True}
    net = build_net("dsc10", **cfg)
    assert net.in_channels == 1 and net.deltas().tolist() == pytest.approx([0.5] * 4)
    assert "Zhao" in get_entry("conv-deconv10").paper


def test_fixed_gates_are_config_not_weights() -> None:
    """Fixed deltas are a non-persistent buffer: plain and DSC nets share a state dict layout."""
    assert set(Dsc10().state_dict()) == set(ConvDeconv10().state_dict())
    assert count_parameters(Dsc10()) == count_parameters(ConvDeconv10()) == 3_175_299


def test_delta_one_is_the_plain_network() -> None:
    """delta_i = 1: Eq. (1) passes X_i on unscaled and Eq. (3) adds (1 - 1) X_i = 0."""
    dsc = seeded(deltas=(1.0, 1.0, 1.0, 1.0)).eval()
    plain = ConvDeconv10().eval()
    plain.load_state_dict(dsc.state_dict())
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(dsc(x), plain(x))
        assert not torch.allclose(seeded().eval()(x), plain(x))  # default gates do differ


def test_delta_zero_gives_the_next_conv_a_zero_input() -> None:
    """delta_i = 0: Conv-(i+1) sees 0 * X_i, so with all gates 0 nothing reaches the bottleneck
    from the image; the output depends on the input only through the DSC skips."""
    net = seeded(deltas=(0.0, 0.0, 0.0, 0.0)).eval()
    seen: dict[str, torch.Tensor] = {}
    hooks = [net.convs[1].register_forward_hook(lambda _m, i, _o: seen.update(conv2_in=i[0])),
             net.convs[4].register_forward_hook(lambda _m, _i, o: seen.update(x5=o))]
    x1, x2 = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        y1 = net(x1)
        conv2_in, bottleneck1 = seen["conv2_in"], seen["x5"]
        y2 = net(x2)
    for h in hooks:
        h.remove()
    assert torch.count_nonzero(conv2_in) == 0
    torch.testing.assert_close(bottleneck1, seen["x5"])  # X_5 does not depend on the image
    assert not torch.allclose(y1, y2)  # ... but the output does, via (1 - 0) * X_i


def test_gates_follow_the_equations_literally() -> None:
    """Rebuild the forward pass from the four Sec. 3.1 equations with arbitrary gates."""
    deltas = (0.15, 0.5, 0.7, 0.95)
    net = seeded(deltas=deltas).eval()
    x = torch.rand(1, 3, 32, 32)
    relu = torch.relu
    c, d = net.convs, net.deconvs
    with torch.no_grad():
        x1 = relu(c[0](x))                    # Conv-1 on the (ungated) image X_0
        x2 = relu(c[1](deltas[0] * x1))       # Eqs. (1)-(2): Conv(delta * X_{i-1})
        x3 = relu(c[2](deltas[1] * x2))
        x4 = relu(c[3](deltas[2] * x3))
        x5 = relu(c[4](deltas[3] * x4))
        y = relu(d[0](x5))                    # Deconv-1: bottleneck, no connection
        y = relu(d[1](y + (1 - deltas[3]) * x4))  # Eqs. (3)-(4): + (1 - delta) * X_i
        y = relu(d[2](y + (1 - deltas[2]) * x3))
        y = relu(d[3](y + (1 - deltas[1]) * x2))
        y = relu(d[4](y + (1 - deltas[0]) * x1))
        torch.testing.assert_close(net(x), y)


def test_learnable_gates_start_at_delta_stay_in_unit_interval_and_learn() -> None:
    net = seeded(learnable_gates=True)
    torch.testing.assert_close(net.gate_logits.detach(),
                               torch.tensor([math.log(d / (1 - d)) for d in (.1, .2, .3, .4)]))
    net(torch.rand(1, 3, 32, 32)).mean().backward()
    assert net.gate_logits.grad is not None and net.gate_logits.grad.abs().sum() > 0
    with torch.no_grad():
        net.gate_logits.fill_(50.0)
    assert ((net.deltas() > 0) & (net.deltas() <= 1)).all()
    with pytest.raises(ValueError):
        Dsc10(deltas=(0.0, 0.2, 0.3, 0.4), learnable_gates=True)
    with pytest.raises(ValueError):
        Dsc10(deltas=(0.1, 0.2, 0.3))


@pytest.mark.parametrize("cls", [ConvDeconv10, Dsc10])
def test_gradients_reach_first_layer_and_eval_deterministic(cls: type[ConvDeconv10]) -> None:
    net = seeded(cls)
    x = torch.rand(1, 3, 32, 32)
    net(x).mean().backward()
    assert net.convs[0].weight.grad.abs().sum() > 0
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(x), net(x))
