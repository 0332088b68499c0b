"""Export to ONNX (dynamic batch/height/width) and TorchScript: outputs match PyTorch; the CLI.

Nets that pad to a multiple are traced on an odd size (67) by default so the padding branch is
recorded and the graph takes any H, W; the CNN-LSTM (a Python loop over rows) is refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from restorekit.errors import RestorekitError
from restorekit.export import export_module
from restorekit.restorers.base import build_net
from restorekit.weights import load_network, save_weights

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

REPO = Path(__file__).resolve().parents[1]
TOL = 1e-4

#: Small configs of registered nets that export. Any-size nets accept every H, W as exported.
ANY_SIZE: dict[str, dict[str, Any]] = {
    "dncnn": {"depth": 3, "channels": 8},
    "rednet": {"num_layers": 6, "features": 8},
    "memnet": {"channels": 8, "num_memblocks": 1, "num_resblocks": 1},
    "sidd-ae": {"features": 16, "bottleneck": 8},
}
#: Nets that pad H, W to ``net.multiple`` inside forward.
PADDED: dict[str, dict[str, Any]] = {
    "rk-unet": {"channels": (8, 16, 32), "num_blocks": 1, "noise_map": False},
    "mnist-dae": {"features": (8, 16)},
    "cnn-cnn": {"features": (8, 16)},
    "edsr": {"scale": 3, "channels": 8, "num_blocks": 1},
}
ALL = {**ANY_SIZE, **PADDED}


def make(name: str) -> torch.nn.Module:
    """A seeded small instance of ``name`` in eval mode."""
    torch.manual_seed(0)
    net = build_net(name, **ALL.get(name, {})).eval()
    if name == "edsr":  # its upsampler starts at zero (the identity): give the body a say
        torch.nn.init.normal_(net.upsample.weight, std=0.05)
    return net


def rand(c: int, h: int, w: int, n: int = 1, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def export_quiet(net: torch.nn.Module, path: Path, fmt: str, **kw: Any) -> Path:
    """``export_module`` without the tracer's warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return export_module(net, path, fmt, channels=net.in_channels, **kw)


def run_onnx(path: Path, x: torch.Tensor) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["image"]
    assert [o.name for o in sess.get_outputs()] == ["restored"]
    return sess.run(None, {"image": x.numpy()})[0]


def torch_out(net: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return net(x).numpy()


def assert_close(got: np.ndarray, ref: np.ndarray) -> None:
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=0, atol=TOL)


@pytest.mark.parametrize("name", list(ALL))
def test_onnx_matches_torch_at_traced_and_other_sizes(name: str, tmp_path: Path) -> None:
    net = make(name)
    path = export_quiet(net, tmp_path / f"{name}.onnx", "onnx")  # traced at 1 x C x 64 x 64
    assert path.is_file()
    c = net.in_channels
    for x in (rand(c, 64, 64), rand(c, 48, 80, n=2, seed=2)):  # other batch, H and W
        assert_close(run_onnx(path, x), torch_out(net, x))


@pytest.mark.parametrize("name", list(ANY_SIZE))
def test_onnx_any_size_nets_take_odd_sizes(name: str, tmp_path: Path) -> None:
    net = make(name)
    path = export_quiet(net, tmp_path / f"{name}.onnx", "onnx")
    x = rand(net.in_channels, 37, 53)
    assert_close(run_onnx(path, x), torch_out(net, x))


@pytest.mark.parametrize("name", list(PADDED))
def test_onnx_padded_nets_traced_on_odd_size_take_any_size(name: str, tmp_path: Path) -> None:
    net = make(name)
    path = export_quiet(net, tmp_path / f"{name}.onnx", "onnx", size=67)
    for x in (rand(net.in_channels, 37, 53), rand(net.in_channels, 64, 64)):
        assert_close(run_onnx(path, x), torch_out(net, x))


def test_onnx_padded_net_default_export_takes_odd_sizes(tmp_path: Path) -> None:
    net = make("rk-unet")
    path = export_quiet(net, tmp_path / "rk-unet.onnx", "onnx")
    x = rand(net.in_channels, 37, 53)
    assert_close(run_onnx(path, x), torch_out(net, x))


@pytest.mark.parametrize("name", ["dncnn", "rk-unet", "memnet", "edsr"])
def test_torchscript_matches_torch(name: str, tmp_path: Path) -> None:
    net = make(name)
    path = export_quiet(net, tmp_path / f"{name}.pt", "torchscript")
    loaded = torch.jit.load(str(path)).eval()
    for x in (rand(net.in_channels, 64, 64), rand(net.in_channels, 48, 80, n=2, seed=2)):
        with torch.no_grad():
            got = loaded(x).numpy()
        assert_close(got, torch_out(net, x))


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RestorekitError, match="unknown export format"):
        export_module(make("dncnn"), tmp_path / "x.tflite", "tflite", channels=1)
    assert not (tmp_path / "x.tflite").exists()


def test_a_net_with_a_noise_level_input_exports_it_as_sigma(tmp_path: Path) -> None:
    """rk-unet's blind fallback (a median) has no ONNX operator: sigma is a second input."""
    torch.manual_seed(0)
    net = build_net("rk-unet", channels=(8, 16, 32), num_blocks=1, noise_map=True).eval()
    onnx_path = export_quiet(net, tmp_path / "unet.onnx", "onnx")
    script = torch.jit.load(str(export_quiet(net, tmp_path / "unet.pt", "torchscript")))
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["image", "sigma"]
    x = rand(1, 37, 53, n=2)
    for sigma in (torch.tensor([0.1, 0.02]), torch.tensor([0.05])):  # per image, or one
        with torch.no_grad():
            ref = net(x, sigma).numpy()
            assert_close(script(x, sigma).numpy(), ref)
        assert_close(sess.run(None, {"image": x.numpy(), "sigma": sigma.numpy()})[0], ref)
    with torch.no_grad():  # and sigma matters: a wrong one gives another image
        assert np.abs(net(x, torch.tensor([0.2])).numpy() - ref).max() > 1e-3


CNN_LSTM = {"hidden_size": 16, "num_layers": 2, "thought_dim": 8}


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_cnn_lstm_export_is_refused_and_leaves_no_file(tmp_path: Path, fmt: str) -> None:
    """The CNN-LSTM loops over rows in Python: a trace would only fit the traced height, so
    export refuses it with one clear error and writes nothing."""
    net = build_net("cnn-lstm", **CNN_LSTM).eval()
    with pytest.raises(RestorekitError, match="cannot be exported"):
        export_quiet(net, tmp_path / f"cnn-lstm.{fmt}", fmt)
    assert list(tmp_path.iterdir()) == []


# -- the CLI end to end -----------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "restorekit", *args], capture_output=True,
                          text=True, env=env, timeout=180)


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    """Saved small dncnn weights with their model card."""
    return save_weights(make("dncnn"), tmp_path / "dncnn.safetensors", arch="dncnn",
                        config=ANY_SIZE["dncnn"])


def test_cli_export_onnx_uses_weights_and_refuses_overwrite(weights: Path,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "dncnn.onnx"
    proc = cli("export", "dncnn", "--weights", str(weights), "--format", "onnx", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.is_file() and "exported dncnn" in proc.stdout
    net, _ = load_network(weights)  # the card's config (depth 3, 8 channels), not the default
    x = rand(1, 40, 56)
    assert_close(run_onnx(out, x), torch_out(net.eval(), x))

    before = out.read_bytes()
    proc = cli("export", "dncnn", "--weights", str(weights), "--format", "onnx", "-o", str(out))
    assert proc.returncode != 0
    assert "exists" in proc.stderr and "--overwrite" in proc.stderr
    assert out.read_bytes() == before

    proc = cli("export", "dncnn", "--weights", str(weights), "--format", "onnx", "-o", str(out),
               "--overwrite")
    assert proc.returncode == 0, proc.stderr
    assert_close(run_onnx(out, x), torch_out(net, x))



def test_cli_export_never_writes_over_the_weights_it_exports(weights: Path,
                                                            tmp_path: Path) -> None:
    before = weights.read_bytes()
    for target in (weights, weights.with_suffix(".json"),
                   tmp_path / "sub" / ".." / weights.name):
        proc = cli("export", "dncnn", "--weights", str(weights), "--format", "onnx",
                   "-o", str(target), "--overwrite")
        assert proc.returncode != 0 and "refusing to overwrite an input" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert weights.read_bytes() == before


def test_cli_export_refuses_random_weights_unless_asked(tmp_path: Path) -> None:
    out = tmp_path / "dncnn.pt"
    proc = cli("export", "dncnn", "--format", "torchscript", "-o", str(out))
    assert proc.returncode == 2 and "give its trained --weights" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not out.exists()
    proc = cli("export", "median", "--format", "onnx", "-o", str(out))
    assert proc.returncode == 2 and "median is a classical method" in proc.stderr
    proc = cli("export", "dncnn", "--untrained", "--set", "depth=3", "--format", "torchscript",
               "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.is_file()


def test_cli_export_torchscript(weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "dncnn.pt"
    proc = cli("export", "dncnn", "--weights", str(weights), "--format", "torchscript",
               "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    net, _ = load_network(weights)
    x = rand(1, 64, 64)
    with torch.no_grad():
        assert_close(torch.jit.load(str(out))(x).numpy(), torch_out(net.eval(), x))


def test_cli_exports_a_shipped_model_by_name_into_a_new_folder(tmp_path: Path) -> None:
    from restorekit.zoo import load_zoo_restorer, zoo_models

    if "rk-unet-gray-blind" not in zoo_models():
        pytest.skip("rk-unet-gray-blind is not shipped in this install")
    out = tmp_path / "new" / "gray.onnx"
    proc = cli("-q", "export", "rk-unet-gray-blind", "--format", "onnx", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "" and proc.stdout.startswith("exported rk-unet-gray-blind")
    net = load_zoo_restorer("rk-unet-gray-blind", device="cpu").net.eval()
    x, sigma = rand(1, 40, 56), torch.tensor([0.1])
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        assert_close(sess.run(None, {"image": x.numpy(), "sigma": sigma.numpy()})[0],
                     net(x, sigma).numpy())
