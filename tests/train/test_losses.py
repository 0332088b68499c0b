"""The loss registry: pixel losses, perceptual loss through a frozen extractor, MemNet's
multi-supervision, and the L2 weight penalty."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from restorekit.errors import RestorekitError
from restorekit.train.losses import PerceptualLoss, build_loss, l2_penalty, loss_names


@pytest.fixture
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(2, 1, 12, 12, generator=g), torch.rand(2, 1, 12, 12, generator=g)


def test_registry_names_and_unknown() -> None:
    assert {"mse", "rmse", "l1", "charbonnier", "perceptual", "multi_supervision",
            "memnet"} <= set(loss_names())
    with pytest.raises(RestorekitError, match="unknown loss 'ssim'.*charbonnier"):
        build_loss("ssim")
    with pytest.raises(RestorekitError, match="bad options for loss 'mse'"):
        build_loss("mse", alpha=1)


def test_pixel_losses_match_their_formulas(pair) -> None:
    x, y = pair
    mse = ((x - y) ** 2).mean()
    assert torch.allclose(build_loss("mse")(x, y), mse)
    assert torch.allclose(build_loss("rmse")(x, y), mse.sqrt())
    assert torch.allclose(build_loss("l1")(x, y), (x - y).abs().mean())
    eps = 1e-2
    assert torch.allclose(build_loss("charbonnier", eps=eps)(x, y),
                          torch.sqrt((x - y) ** 2 + eps**2).mean())
    # A (final, intermediates) output is read as its final prediction.
    assert torch.allclose(build_loss("mse")((x, [y]), y), mse)


def test_rmse_gradient_is_finite_at_zero(pair) -> None:
    x, _ = pair
    x = x.clone().requires_grad_(True)
    build_loss("rmse")(x, x.detach()).backward()
    assert torch.isfinite(x.grad).all()


def _extractor() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=2),
                         nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(100, 3))


def test_perceptual_loss_uses_frozen_features(pair) -> None:
    x, y = pair
    ext = _extractor()
    loss = PerceptualLoss(ext, layers=["1", "4"], layer_weights=[1.0, 0.5], pixel_weight=0.1)
    loss.train()
    assert not ext.training  # stays in eval mode (frozen BN statistics)
    assert all(not p.requires_grad for p in ext.parameters())
    assert float(loss(y, y)) == 0.0
    xg = x.clone().requires_grad_(True)
    value = loss(xg, y)
    value.backward()
    assert value > 0 and xg.grad is not None and xg.grad.abs().sum() > 0
    assert all(p.grad is None for p in ext.parameters())
    f1 = ext[1](ext[0](x))
    g1 = ext[1](ext[0](y))
    f4 = ext[4](ext[3](ext[2](f1)))
    g4 = ext[4](ext[3](ext[2](g1)))
    expected = (nn.functional.mse_loss(f1, g1) + 0.5 * nn.functional.mse_loss(f4, g4)
                + 0.1 * nn.functional.mse_loss(x, y))
    assert torch.allclose(value, expected, atol=1e-6)
    # No layers: the extractor's output.
    out = PerceptualLoss(ext)(x, y)
    assert torch.allclose(out, nn.functional.mse_loss(ext(x), ext(y)))


def test_perceptual_loss_errors() -> None:
    with pytest.raises(RestorekitError, match="frozen feature extractor"):
        build_loss("perceptual")
    with pytest.raises(RestorekitError, match="no layer 'conv9'"):
        PerceptualLoss(_extractor(), layers=["conv9"])
    with pytest.raises(RestorekitError, match="layer_weights"):
        PerceptualLoss(_extractor(), layers=["0"], layer_weights=[1.0, 2.0])


def test_perceptual_loss_from_a_weights_file(tmp_path, pair) -> None:
    from restorekit.restorers.base import build_net
    from restorekit.weights import save_weights

    net = build_net("dncnn", depth=3, channels=4)
    path = save_weights(net, tmp_path / "ext.safetensors", arch="dncnn",
                        config={"depth": 3, "channels": 4})
    loss = build_loss("perceptual", extractor=str(path), layers=["dncnn.1"])
    x, y = pair
    assert float(loss(x, y)) > 0


def test_multi_supervision_matches_memnet() -> None:
    from restorekit.nets.memnet import MemNet, multi_supervision_loss

    torch.manual_seed(0)
    net = MemNet(channels=4, num_memblocks=2, num_resblocks=1)
    x, y = torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8)
    out = net.forward_with_intermediates(x)
    loss = build_loss("multi_supervision", alpha=0.3)
    assert loss.needs_intermediates
    assert torch.allclose(loss(out, y), multi_supervision_loss(*out, y, alpha=0.3))
    with pytest.raises(RestorekitError, match="forward_with_intermediates"):
        loss(out[0], y)


def test_l2_penalty_sums_weights_not_biases() -> None:
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Linear(3, 2))
    expected = net[0].weight.pow(2).sum() + net[2].weight.pow(2).sum()
    assert torch.allclose(l2_penalty(net), expected)
    assert float(l2_penalty(nn.BatchNorm2d(3))) == 0.0
