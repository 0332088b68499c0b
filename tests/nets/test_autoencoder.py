"""Tests for restorekit.nets.autoencoder: Zhao's MNIST DAE and Khan et al.'s SIDD autoencoder."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from restorekit.nets.autoencoder import (
    MnistDAE,
    SameConv2d,
    SameConvTranspose2d,
    SiddAutoencoder,
)
from restorekit.nets.common import count_parameters
from restorekit.restorers.base import build_net, get_entry

SIZES = [(28, 28), (31, 29), (37, 45)]


def tiny_dae(c: int = 1) -> MnistDAE:
    torch.manual_seed(0)
    return MnistDAE(c, c, features=(8, 16))


def tiny_sidd(c: int = 3, **kw: object) -> SiddAutoencoder:
    torch.manual_seed(0)
    return SiddAutoencoder(c, c, features=16, bottleneck=8, **kw)


# -- MNIST DAE ---------------------------------------------------------------------------------

@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("hw", SIZES)
def test_dae_shape_preserved_and_nonnegative(c: int, hw: tuple[int, int]) -> None:
    x = torch.rand(2, c, *hw)
    y = tiny_dae(c).eval()(x)
    assert y.shape == x.shape
    assert (y >= 0).all()  # ReLU on the output layer (Sec. 2.3)


def test_dae_layer_shapes_as_documented() -> None:
    """The paper has no layer table; these are the documented shapes of our default config."""
    net = MnistDAE().eval()
    h = torch.rand(1, 1, 28, 28)
    stage_out = []
    for layer in net.encoder:
        h = layer(h)
        if isinstance(layer, torch.nn.MaxPool2d):
            stage_out.append(tuple(h.shape[1:]))
    assert stage_out == [(32, 14, 14), (64, 7, 7)]
    dec_out = []
    for layer in net.decoder:
        h = layer(h)
        if isinstance(layer, torch.nn.ConvTranspose2d):
            dec_out.append(tuple(h.shape[1:]))
    assert dec_out == [(32, 14, 14), (1, 28, 28)]
    kinds = [type(m).__name__ for m in net.encoder]
    assert kinds == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"] * 2
    assert [type(m).__name__ for m in net.decoder] == [
        "ConvTranspose2d", "BatchNorm2d", "ReLU", "ConvTranspose2d", "ReLU"]


def test_dae_gradients_reach_first_layer() -> None:
    net = tiny_dae().train()
    net(torch.rand(2, 1, 28, 28)).pow(2).mean().backward()
    assert net.encoder[0].weight.grad is not None
    assert net.encoder[0].weight.grad.abs().sum() > 0


def test_dae_eval_deterministic() -> None:
    net = tiny_dae(3).eval()
    x = torch.rand(2, 3, 31, 29)
    assert torch.equal(net(x), net(x))


def test_dae_registry_defaults_and_plain_config() -> None:
    entry = get_entry("mnist-dae")
    assert entry.defaults["in_channels"] == 1 and "Zhao" in entry.paper
    net = build_net("mnist-dae")
    assert net.in_channels == net.out_channels == 1
    net = build_net("mnist-dae", **{"in_channels": 3, "out_channels": 3, "features": [8, 16]})
    assert isinstance(net, MnistDAE) and net.in_channels == 3
    assert net.eval()(torch.rand(1, 3, 20, 20)).shape == (1, 3, 20, 20)


# -- Same padding helpers ----------------------------------------------------------------------

@pytest.mark.parametrize("k", [2, 3])
def test_same_conv_pads_like_keras(k: int) -> None:
    """Keras pads k-1 zeros, (k-1)//2 before and the rest after (bottom/right for k = 2)."""
    torch.manual_seed(0)
    conv = SameConv2d(2, 3, k)
    x = torch.randn(1, 2, 7, 6)
    before = (k - 1) // 2
    ref = F.conv2d(F.pad(x, (before, k - 1 - before, before, k - 1 - before)), conv.weight,
                   conv.bias)
    assert conv(x).shape[-2:] == x.shape[-2:]
    torch.testing.assert_close(conv(x), ref)


@pytest.mark.parametrize("k", [2, 3])
def test_same_conv_transpose_is_adjoint_of_same_conv(k: int) -> None:
    """TF's conv2d_transpose(padding='SAME') is the adjoint of conv2d(padding='SAME')."""
    torch.manual_seed(0)
    conv = SameConv2d(2, 3, k)
    tconv = SameConvTranspose2d(3, 2, k)
    with torch.no_grad():
        tconv.weight.copy_(conv.weight)
        conv.bias.zero_()
        tconv.bias.zero_()
    x, y = torch.randn(1, 2, 7, 6), torch.randn(1, 3, 7, 6)
    assert tconv(y).shape == x.shape
    torch.testing.assert_close((conv(x) * y).sum(), (x * tconv(y)).sum())


# -- SIDD autoencoder --------------------------------------------------------------------------

def test_sidd_parameter_count_matches_paper() -> None:
    """Paper: 3,023,235 trainable parameters; our rebuild of the authors' layer list."""
    assert count_parameters(SiddAutoencoder()) == 3_023_235
    assert count_parameters(build_net("sidd-ae")) == 3_023_235
    assert count_parameters(SiddAutoencoder(1, 1)) == 3_018_881
    assert count_parameters(SiddAutoencoder(kernel_sizes=(2, 2, 2, 2, 2))) == 1_710_595


def test_sidd_full_width_forward_small_image() -> None:
    x = torch.rand(1, 3, 13, 10)
    assert SiddAutoencoder().eval()(x).shape == x.shape


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("hw", SIZES)
@pytest.mark.parametrize("activation", ["none", "relu"])
def test_sidd_shape_preserved(c: int, hw: tuple[int, int], activation: str) -> None:
    x = torch.rand(2, c, *hw)
    assert tiny_sidd(c, activation=activation).eval()(x).shape == x.shape


def test_sidd_zero_weights_is_identity_through_residual() -> None:
    net = tiny_sidd()
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
    x = torch.rand(1, 3, 11, 9)
    assert torch.equal(net(x), x)


def test_sidd_default_is_linear_like_the_authors_notebook() -> None:
    """No activations by default: f(a x1 + b x2) - f(0) is linear."""
    net = tiny_sidd().eval().double()
    x1, x2 = torch.rand(1, 3, 9, 8).double(), torch.rand(1, 3, 9, 8).double()
    f0 = net(torch.zeros_like(x1))
    torch.testing.assert_close(net(2 * x1 + 3 * x2) - f0, 2 * (net(x1) - f0) + 3 * (net(x2) - f0))


def test_sidd_gradients_reach_first_layer_and_deterministic() -> None:
    net = tiny_sidd(activation="relu")
    x = torch.rand(2, 3, 12, 12)
    net(x).pow(2).mean().backward()
    assert net.convs[0].weight.grad.abs().sum() > 0
    net.eval()
    assert torch.equal(net(x), net(x))


def test_sidd_bad_config_raises() -> None:
    with pytest.raises(ValueError):
        SiddAutoencoder(activation="tanh")
    with pytest.raises(ValueError):
        SiddAutoencoder(kernel_sizes=(2, 2))
    with pytest.raises(ValueError):
        SiddAutoencoder(3, 1)  # residual needs equal channels
    assert SiddAutoencoder(3, 1, features=8, bottleneck=4, residual=False)(
        torch.rand(1, 3, 5, 5)).shape == (1, 1, 5, 5)


def test_sidd_registry() -> None:
    entry = get_entry("sidd-ae")
    assert entry.defaults["in_channels"] == 3 and "Khan" in entry.paper
    net = build_net("sidd-ae", **{"features": 8, "bottleneck": 4, "kernel_sizes": [2, 2, 3, 3, 3],
                                  "activation": "relu"})
    assert isinstance(net, SiddAutoencoder)
    assert net.eval()(torch.rand(1, 3, 7, 9)).shape == (1, 3, 7, 9)
