"""NetworkRestorer: numpy <-> NCHW, channel adaptation, sigma, tiling, weights and registry."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from restorekit.errors import RestorekitError, WeightsError
from restorekit.restorers.base import build_net, list_restorers, load_restorer
from restorekit.restorers.network import NetworkRestorer
from restorekit.weights import save_weights


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny nets: one intra-op thread is much faster than two on a busy 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


class TinyNet(nn.Module):
    """Residual 3-conv net (receptive-field radius 3) following the nets conventions."""

    def __init__(self, in_channels: int = 1, out_channels: int | None = None,
                 seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.in_channels = in_channels
        self.out_channels = out_channels or in_channels
        self.body = nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(8, self.out_channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # no sigma argument on purpose
        return x - 0.1 * self.body(x)


class SigmaNet(TinyNet):
    """Records the noise level it receives."""

    accepts_sigma = True

    def __init__(self, in_channels: int = 1) -> None:
        super().__init__(in_channels)
        self.received: list[float] = []

    def forward(self, x: torch.Tensor, sigma: float | None = None) -> torch.Tensor:
        assert sigma is not None
        self.received.append(float(sigma))
        return super().forward(x)


def _image(h: int, w: int, c: int = 0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 0.5 + 0.3 * np.sin(x / 9.0) * np.cos(y / 11.0)
    img = base if c == 0 else np.stack([base, base[::-1], 1 - base][:c], axis=-1)
    return np.clip(img + rng.normal(0, 20 / 255, img.shape), 0, 1).astype(np.float32)


def _net_out(net: nn.Module, img: np.ndarray) -> np.ndarray:
    """Reference: the net on the whole HxW or HxWxC image, by hand."""
    x = torch.from_numpy(np.ascontiguousarray(img))
    x = x[None, None] if img.ndim == 2 else x.permute(2, 0, 1)[None]
    with torch.inference_mode():
        y = net.eval()(x)
    out = y[0, 0] if img.ndim == 2 else y[0].permute(1, 2, 0)
    return np.clip(out.numpy(), 0, 1)


# -- shapes and conversion ---------------------------------------------------------------------


@pytest.mark.parametrize("net_channels", [1, 3])
@pytest.mark.parametrize("shape", [(37, 53), (37, 53, 3), (16, 17), (1, 9), (40, 31, 1)])
def test_shapes_dtype_range(net_channels: int, shape: tuple[int, ...]) -> None:
    r = NetworkRestorer(TinyNet(net_channels), device="cpu")
    img = _image(*shape[:2], c=shape[2] if len(shape) == 3 and shape[2] == 3 else 0)
    if len(shape) == 3 and shape[2] == 1:
        img = img[..., None]
    out = r.restore(img)
    assert out.shape == img.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1


def test_matches_the_net_and_accepts_odd_inputs() -> None:
    net = TinyNet(3)
    img = _image(33, 47, c=3)
    r = NetworkRestorer(net, device="cpu")
    np.testing.assert_allclose(r.restore(img), _net_out(net, img), atol=1e-6)
    flipped = img[::-1]  # negative strides
    np.testing.assert_allclose(r.restore(flipped), _net_out(net, flipped.copy()), atol=1e-6)
    ro = img.copy()
    ro.flags.writeable = False
    r.restore(ro)
    out8 = r.restore((img * 255).round().astype(np.uint8))  # integers are scaled
    assert out8.dtype == np.float32 and abs(float(out8.mean()) - float(img.mean())) < 0.05


# -- channel adaptation ------------------------------------------------------------------------


def test_gray_net_on_rgb_runs_each_channel_as_gray() -> None:
    net = TinyNet(1)
    r = NetworkRestorer(net, device="cpu")
    img = _image(30, 41, c=3)
    out = r.restore(img)
    for c in range(3):
        np.testing.assert_allclose(out[..., c], _net_out(net, img[..., c]), atol=1e-6)


def test_rgb_net_on_gray_replicates_and_averages() -> None:
    net = TinyNet(3)
    r = NetworkRestorer(net, device="cpu")
    img = _image(30, 41)
    expected = _net_out(net, np.repeat(img[..., None], 3, axis=-1))
    # the average is taken before clipping; clipping commutes here (values stay inside [0, 1])
    np.testing.assert_allclose(r.restore(img), expected.mean(-1), atol=1e-6)


def test_other_channel_mismatch_raises() -> None:
    r = NetworkRestorer(TinyNet(3), device="cpu")
    with pytest.raises(RestorekitError, match="3-channel"):
        r.restore(np.zeros((8, 8, 4), np.float32))


# -- sigma ---------------------------------------------------------------------------------------


def test_sigma_is_passed_on_the_0_1_scale() -> None:
    net = SigmaNet(1)
    r = NetworkRestorer(net, device="cpu", tile=0)  # tile=0: no memory probe, one call
    assert r.uses_sigma
    r.restore(_image(20, 24), sigma=25)
    assert net.received == [pytest.approx(25 / 255)]
    assert r.last_sigma == 25


def test_sigma_is_estimated_when_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import restorekit.noise_estimation as ne

    monkeypatch.setattr(ne, "estimate_sigma", lambda image: 17.5)
    net = SigmaNet(3)
    r = NetworkRestorer(net, device="cpu", tile=0)
    r.restore(_image(20, 24, c=3))
    assert net.received == [pytest.approx(17.5 / 255)]
    assert r.last_sigma == 17.5
    monkeypatch.undo()
    r.restore(_image(48, 48, c=3, seed=3), sigma=None)  # the real estimator; noise 20/255
    assert 10 < net.received[-1] * 255 < 30 and r.last_sigma == pytest.approx(
        net.received[-1] * 255)


def test_nets_without_sigma_get_none() -> None:
    r = NetworkRestorer(TinyNet(1), device="cpu")  # forward(x) only: passing sigma would fail
    assert not r.uses_sigma
    r.restore(_image(20, 20), sigma=30)
    assert r.last_sigma is None


def test_negative_sigma_raises() -> None:
    with pytest.raises(RestorekitError):
        NetworkRestorer(SigmaNet(1), device="cpu").restore(_image(8, 8), sigma=-3)


# -- tiling ----------------------------------------------------------------------------------------


def test_explicit_tiles_match_whole_image() -> None:
    net = TinyNet(3)
    img = _image(90, 110, c=3)
    whole = NetworkRestorer(net, device="cpu", tile=0).restore(img)
    reports: list[tuple[int, int]] = []
    r = NetworkRestorer(net, device="cpu", tile=40, tile_overlap=16,
                        progress=lambda d, t: reports.append((d, t)))
    tiled = r.restore(img)
    assert r.last_tile == 40 and reports and reports[-1][0] == reports[-1][1] > 1
    assert np.abs(tiled - whole).max() < 1e-5  # radius 3 < margin 6: exact


@pytest.mark.parametrize("colour", [False, True], ids=["gray", "rgb"])
def test_automatic_tiling_follows_the_budget(colour: bool) -> None:
    net = TinyNet(1)  # on RGB the three channels go through as a batch of 3
    img = _image(120, 100, c=3 if colour else 0)
    r = NetworkRestorer(net, device="cpu")  # default 1 GiB: a small image runs whole
    whole = r.restore(img)
    assert r.last_tile is None
    batch = 3 if colour else 1
    bpp = r.bytes_per_pixel(batch)
    assert batch * 8 * 4 <= bpp <= batch * (4 * 8 * 4 + 64)  # a few 8-channel maps per pixel
    budget_mb = 60 * 60 * (bpp + 8 * batch) / 2**20  # room for a 60x60 tile, not the image
    small = NetworkRestorer(net, device="cpu", memory_budget_mb=budget_mb, tile_overlap=16,
                            progress=True)
    tiled = small.restore(img)
    assert small.last_tile is not None and 40 <= small.last_tile <= 60
    assert np.abs(tiled - whole).max() < 1e-5


def test_tiling_a_registered_unet_with_sigma_and_multiple() -> None:
    """rk-unet: a noise-map net that pads to a multiple of 8; tiles are multiples of 8."""
    net = build_net("rk-unet", in_channels=1, out_channels=1, channels=(8, 16, 32), num_blocks=1)
    img = _image(100, 92)
    whole = NetworkRestorer(net, device="cpu", tile=0).restore(img, sigma=25)
    r = NetworkRestorer(net, device="cpu", tile=61, tile_overlap=32)
    tiled = r.restore(img, sigma=25)
    assert r.last_tile == 56  # rounded down to the net's multiple
    mse = float(np.mean((tiled.astype(np.float64) - whole) ** 2))
    assert 10 * math.log10(1 / max(mse, 1e-20)) > 50


# -- registry and weights ------------------------------------------------------------------------

SMALL_DNCNN = {"depth": 3, "channels": 8, "in_channels": 1, "out_channels": 1}


def _saved_dncnn(tmp_path: Path) -> tuple[nn.Module, Path]:
    net = build_net("dncnn", **SMALL_DNCNN)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = save_weights(net, tmp_path / "small.safetensors", arch="dncnn", config=SMALL_DNCNN)
    return net, path


def test_from_registry_round_trips_saved_weights(tmp_path: Path) -> None:
    net, path = _saved_dncnn(tmp_path)
    r = NetworkRestorer.from_registry("dncnn", weights=str(path), device="cpu", tile=0)
    assert r.name == "dncnn" and not r.uses_sigma and r.tile == 0
    for k, v in net.state_dict().items():
        torch.testing.assert_close(r.net.state_dict()[k], v)
    img = _image(30, 30)
    np.testing.assert_allclose(r.restore(img), _net_out(net, img), atol=1e-6)
    r2 = load_restorer("dncnn", weights=str(path), device="cpu", tile=None, tile_overlap=16)
    assert isinstance(r2, NetworkRestorer) and r2.tile_overlap == 16
    np.testing.assert_allclose(r2.restore(img), r.restore(img), atol=0)


def test_mismatched_weights_raise_weights_error(tmp_path: Path) -> None:
    _, path = _saved_dncnn(tmp_path)
    with pytest.raises(WeightsError, match="do not match"):
        NetworkRestorer.from_registry("dncnn", weights=str(path), depth=4)  # config over card
    with pytest.raises(WeightsError, match="model card is for 'dncnn'"):
        NetworkRestorer.from_registry("rednet", weights=str(path))
    legacy = tmp_path / "legacy.pth"  # no card: the registry defaults (depth 17) are used
    torch.save(build_net("dncnn", **SMALL_DNCNN).state_dict(), legacy)
    with pytest.raises(WeightsError, match=r"No model card \(legacy.json\).*built with its "
                       r"defaults.*--set KEY=VALUE"):
        NetworkRestorer.from_registry("dncnn", weights=str(legacy))
    given = NetworkRestorer.from_registry("dncnn", weights=str(legacy), **SMALL_DNCNN)
    assert given.name == "dncnn"  # the config that was named makes the weights fit
    with pytest.raises(WeightsError, match="not found"):
        NetworkRestorer.from_registry("dncnn", weights=str(tmp_path / "missing.safetensors"))


def test_no_weights_warns_and_classical_names_are_rejected() -> None:
    with pytest.warns(UserWarning, match="random weights"):
        NetworkRestorer.from_registry("dncnn", **SMALL_DNCNN)
    with pytest.raises(RestorekitError, match="classical"):
        NetworkRestorer.from_registry("tv")


def test_bad_options_and_device() -> None:
    with pytest.raises(RestorekitError):
        NetworkRestorer(TinyNet(1), tile=-1)
    with pytest.raises(RestorekitError):
        NetworkRestorer(TinyNet(1), device="nonsense")


@pytest.mark.parametrize("name", [e.name for e in list_restorers("network")])
def test_every_registered_net_restores_gray_and_rgb(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # random weights
        r = load_restorer(name, device="cpu")
    for img in (_image(29, 35), _image(29, 35, c=3)):
        out = r.restore(img, sigma=20)
        assert out.shape == img.shape and out.dtype == np.float32
        assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
