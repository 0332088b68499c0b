"""Weights on disk: safetensors + model card round trip, integrity, mismatches, legacy .pth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from restorekit.errors import WeightsError
from restorekit.restorers.base import build_net
from restorekit.weights import (
    CARD_FORMAT,
    card_path,
    load_network,
    load_state_dict,
    load_weights,
    read_card,
    save_weights,
    sha256_file,
)

REPO = Path(__file__).resolve().parents[1]
CONFIG = {"depth": 3, "channels": 8}


class Payload:
    """An arbitrary picklable object: a checkpoint holding it must not be unpickled."""

    def __init__(self) -> None:
        self.value = 42


def small_dncnn(seed: int = 0) -> torch.nn.Module:
    """A tiny dncnn with seeded random weights and non-trivial BN statistics."""
    torch.manual_seed(seed)
    net = build_net("dncnn", **CONFIG)
    with torch.no_grad():
        for name, buf in net.named_buffers():
            if name.endswith("running_mean"):
                buf.uniform_(-0.1, 0.1)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 1.5)
    return net.eval()


@pytest.fixture
def saved(tmp_path: Path) -> tuple[torch.nn.Module, Path]:
    """A small dncnn and the .safetensors file its weights were saved to."""
    net = small_dncnn()
    path = save_weights(net, tmp_path / "dncnn-small.safetensors", arch="dncnn", config=CONFIG)
    return net, path


def example() -> torch.Tensor:
    return torch.rand(2, 1, 24, 20, generator=torch.Generator().manual_seed(3))


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_round_trip_identical_state_and_outputs(saved: tuple[torch.nn.Module, Path]) -> None:
    net, path = saved
    loaded, card = load_network(path)
    assert type(loaded) is type(net)
    assert_same_state(net, loaded)
    loaded.eval()
    x = example()
    with torch.no_grad():
        assert torch.equal(net(x), loaded(x))
    assert card["arch"] == "dncnn"


def test_card_holds_arch_config_and_sha256(saved: tuple[torch.nn.Module, Path]) -> None:
    _, path = saved
    cp = card_path(path)
    assert cp == path.with_suffix(".json") and cp.is_file()
    card = json.loads(cp.read_text())
    assert card == read_card(path)
    assert card["format"] == CARD_FORMAT
    assert card["arch"] == "dncnn"
    assert card["config"] == CONFIG
    assert card["weights"] == path.name
    assert card["sha256"] == sha256_file(path)
    assert len(card["sha256"]) == 64


def test_extra_card_fields_are_kept(tmp_path: Path) -> None:
    path = save_weights(small_dncnn(), tmp_path / "w.safetensors", arch="dncnn", config=CONFIG,
                        card={"sigma": 25, "dataset": "synthetic"})
    card = read_card(path)
    assert card is not None and card["sigma"] == 25 and card["dataset"] == "synthetic"


def test_save_refuses_other_suffix(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="safetensors"):
        save_weights(small_dncnn(), tmp_path / "w.pth", arch="dncnn", config=CONFIG)


def test_tampered_weights_fail_sha256(saved: tuple[torch.nn.Module, Path]) -> None:
    _, path = saved
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # flip bits inside the last tensor's bytes: still a valid file
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        load_network(path)


def test_missing_card_is_a_clear_error(saved: tuple[torch.nn.Module, Path]) -> None:
    _, path = saved
    card_path(path).unlink()
    assert read_card(path) is None
    with pytest.raises(WeightsError, match="model card"):
        load_network(path)


def test_missing_file_is_a_weights_error(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not found"):
        load_state_dict(tmp_path / "nope.safetensors")


def test_other_architecture_is_one_error_naming_keys(saved: tuple[torch.nn.Module, Path]
                                                     ) -> None:
    _, path = saved
    other = build_net("rednet", num_layers=4, features=8)
    with pytest.raises(WeightsError) as info:
        load_weights(other, path)
    msg = str(info.value)
    assert "missing:" in msg and "unexpected:" in msg
    assert "RedNet" in msg or type(other).__name__ in msg


def test_other_config_is_one_error_naming_keys(saved: tuple[torch.nn.Module, Path]) -> None:
    _, path = saved
    wider = build_net("dncnn", depth=4, channels=16)  # one layer more, wider
    with pytest.raises(WeightsError) as info:
        load_weights(wider, path)
    msg = str(info.value)
    assert "missing:" in msg and "wrong shape:" in msg
    # a shape-only mismatch names only wrong-shape keys
    wide = build_net("dncnn", depth=3, channels=16)
    with pytest.raises(WeightsError) as info:
        load_weights(wide, path)
    msg = str(info.value)
    assert "wrong shape:" in msg and "missing:" not in msg and "unexpected:" not in msg


def test_partial_load_transfers_what_matches_and_keeps_the_rest(tmp_path: Path) -> None:
    """An x3 EDSR's body starts an x4 one (Lim et al. 2017 start x3/x4 from x2): head and
    upsampler differ in shape and keep their init."""
    torch.manual_seed(0)
    x3 = build_net("edsr", scale=3, channels=8, num_blocks=2)
    path = save_weights(x3, tmp_path / "x3.safetensors", arch="edsr", config={})
    x4 = build_net("edsr", scale=4, channels=8, num_blocks=2)
    head_init = x4.head.weight.detach().clone()
    kept = load_weights(x4, path, partial=True)
    assert kept == ["head.weight", "upsample.bias", "upsample.weight"]
    assert torch.equal(x4.head.weight, head_init)
    assert torch.equal(x4.body[1].conv2.weight, x3.body[1].conv2.weight)
    assert load_weights(x3, path, partial=True) == []  # an exact match keeps nothing
    with pytest.raises(WeightsError, match="no tensor matches"):
        load_weights(build_net("rednet", num_layers=4, features=8), path, partial=True)
    with pytest.raises(WeightsError, match="exclude each other"):
        load_weights(x4, path, partial=True, grow=True)


def test_config_override_through_load_network_mismatches(
        saved: tuple[torch.nn.Module, Path]) -> None:
    _, path = saved
    with pytest.raises(WeightsError, match="wrong shape"):
        load_network(path, channels=16)


def test_legacy_pth_plain_state_dict(tmp_path: Path) -> None:
    net = small_dncnn(seed=1)
    path = tmp_path / "legacy.pth"
    torch.save(net.state_dict(), path)
    fresh = build_net("dncnn", **CONFIG)
    load_weights(fresh, path)
    assert_same_state(net, fresh)


def test_legacy_pth_wrapped_with_module_prefix(tmp_path: Path) -> None:
    net = small_dncnn(seed=2)
    prefixed = OrderedDict((f"module.{k}", v) for k, v in net.state_dict().items())
    path = tmp_path / "legacy_wrapped.pt"
    torch.save({"state_dict": prefixed, "epoch": 7, "lr": 1e-3}, path)
    fresh = build_net("dncnn", **CONFIG).eval()
    load_weights(fresh, path)
    assert_same_state(net, fresh)
    x = example()
    with torch.no_grad():
        assert torch.equal(net(x), fresh(x))


def test_pickled_object_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": small_dncnn().state_dict(), "extra": Payload()}, path)
    # a plain torch.load would happily rebuild the object: weights_only must refuse it
    with pytest.raises(WeightsError, match="cannot read weights"):
        load_state_dict(path)
    with pytest.raises(WeightsError):
        load_weights(build_net("dncnn", **CONFIG), path)


def test_pickled_module_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "whole_module.pth"
    torch.save(small_dncnn(), path)  # a whole pickled nn.Module, not a state dict
    with pytest.raises(WeightsError, match="cannot read weights"):
        load_state_dict(path)


def test_non_dict_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), path)
    with pytest.raises(WeightsError, match="state dict"):
        load_state_dict(path)


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "restorekit", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_cli_restore_with_weights(saved: tuple[torch.nn.Module, Path], tmp_path: Path,
                                  gray_image: np.ndarray) -> None:
    from restorekit.io import read_image, write_image

    _, weights = saved
    src = write_image(tmp_path / "noisy.png", gray_image)
    out = tmp_path / "restored.png"
    proc = _run_cli("restore", str(src), "-o", str(out), "--method", "dncnn",
                    "--weights", str(weights), "--set", "depth=3", "--set", "channels=8",
                    "--sigma", "25", "--device", "cpu")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.is_file()
    restored = read_image(out)
    restored = restored[0] if isinstance(restored, tuple) else restored
    assert np.asarray(restored).shape[:2] == gray_image.shape


def test_out_of_memory_and_os_errors_are_not_called_invalid_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import safetensors.torch

    from restorekit.weights import load_state_dict

    path = tmp_path / "w.safetensors"
    path.write_bytes(b"x" * 16)

    def exhausted(*_args: object, **_kwargs: object) -> None:
        raise MemoryError("Unable to allocate")

    monkeypatch.setattr(safetensors.torch, "load_file", exhausted)
    with pytest.raises(MemoryError):
        load_state_dict(path)

    def denied(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(safetensors.torch, "load_file", denied)
    with pytest.raises(WeightsError, match="cannot read weights: Permission denied$"):
        load_state_dict(path)
