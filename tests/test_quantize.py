"""int8 weight storage: size, error bound, outputs, and malformed files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from restorekit.errors import WeightsError
from restorekit.quantize import MIN_ELEMENTS, SCALE_SUFFIX, dequantize_state, quantize_state
from restorekit.restorers.base import build_net
from restorekit.weights import load_network, load_state_dict, read_card, save_weights

CONFIG = {"channels": [8, 64], "num_blocks": 1, "noise_map": False}  # 64x64x3x3 kernels


def small_unet() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_net("rk-unet", **CONFIG).eval()


def test_each_weight_is_within_half_a_step_of_its_channel_scale() -> None:
    state = small_unet().state_dict()
    quant = quantize_state(state, min_elements=0)
    back = dequantize_state(quant)
    assert back.keys() == state.keys()
    for key, value in state.items():
        if value.is_floating_point() and value.dim() >= 2:
            assert quant[key].dtype == torch.int8
            scale = quant[key + SCALE_SUFFIX].reshape((-1,) + (1,) * (value.dim() - 1))
            assert torch.all((back[key] - value).abs() <= scale / 2 + 1e-7), key
            assert not torch.equal(back[key], value), key  # really quantized
        else:
            assert torch.equal(back[key], value), key  # biases etc. stay exact


def test_int8_file_is_about_a_quarter_and_restores_nearly_the_same(tmp_path: Path) -> None:
    net = small_unet()
    full = save_weights(net, tmp_path / "full.safetensors", arch="rk-unet", config=CONFIG)
    small = save_weights(net, tmp_path / "small.safetensors", arch="rk-unet", config=CONFIG,
                         storage="int8")
    assert small.stat().st_size < 0.5 * full.stat().st_size
    assert read_card(small)["storage"] == "int8" and read_card(full)["storage"] == "float32"
    loaded, _ = load_network(small)
    x = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want, got = net(x), loaded.eval()(x)
    err = (got - want).abs().max().item()
    assert 0 < err < 1e-2


def test_small_kernels_stay_float32_by_default() -> None:
    state = small_unet().state_dict()
    quant = quantize_state(state)
    kernels = {k: v for k, v in state.items() if v.is_floating_point() and v.dim() >= 2}
    big = {k for k, v in kernels.items() if v.numel() >= MIN_ELEMENTS}
    assert big and big != set(kernels)  # the test net has both kinds
    for key in kernels:
        assert (quant[key].dtype == torch.int8) == (key in big), key


def test_unknown_storage_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="unknown weight storage"):
        save_weights(small_unet(), tmp_path / "x.safetensors", arch="rk-unet", config=CONFIG,
                     storage="int4")


def test_int8_tensor_without_its_scale_is_a_weights_error(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    quant = quantize_state(small_unet().state_dict())
    key = next(k for k in quant if k.endswith(SCALE_SUFFIX))
    del quant[key]
    path = tmp_path / "broken.safetensors"
    save_file(quant, str(path))
    with pytest.raises(WeightsError, match="has no scale"):
        load_state_dict(path)
