"""run_benchmark / summarize: seeded, comparable numbers on tiny synthetic images."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restorekit.errors import RestorekitError, SpecError, UnknownNameError
from restorekit.evaluate.benchmark import INPUT_LABEL, run_benchmark, summarize


def _image(seed: int = 0) -> np.ndarray:
    y, x = np.mgrid[0:40, 0:48]
    img = 0.5 + 0.3 * np.sin(x / (5.0 + seed)) * np.cos(y / 8.0)
    return img.astype(np.float32)


def _folder(tmp_path: Path, n: int = 2) -> Path:
    folder = tmp_path / "set"
    folder.mkdir()
    for i in range(n):
        Image.fromarray(np.round(_image(i) * 255).astype(np.uint8)).save(folder / f"im{i}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


METHODS = ["identity", "median", "gaussian-filter"]
SPECS = ["gaussian:sigma=25", "jpeg:quality=20"]


def test_rows_cover_every_combination(tmp_path: Path) -> None:
    rows = run_benchmark(METHODS, SPECS, {"set": _folder(tmp_path)})
    assert len(rows) == 2 * len(SPECS) * (len(METHODS) + 1)
    assert {r["image"] for r in rows} == {"im0.png", "im1.png"}
    assert {r["restorer"] for r in rows} == {INPUT_LABEL, *METHODS}
    assert set(rows[0]) == {"dataset", "image", "degradation", "restorer", "psnr", "ssim",
                            "seconds"}
    assert all(r["seconds"] >= 0 and 0 < r["ssim"] <= 1 for r in rows)


def test_seeded_runs_are_reproducible_and_seed_matters() -> None:
    data = {"syn": [_image(0), _image(1)]}
    a = run_benchmark(["median"], SPECS, data, seed=3)
    b = run_benchmark(["median"], SPECS, data, seed=3)
    c = run_benchmark(["median"], SPECS, data, seed=4)
    key = [(r["psnr"], r["ssim"]) for r in a]
    assert key == [(r["psnr"], r["ssim"]) for r in b]
    gauss = [r["psnr"] for r in a if r["degradation"] == SPECS[0]]
    assert gauss != [r["psnr"] for r in c if r["degradation"] == SPECS[0]]


def test_noise_does_not_depend_on_the_restorer_list() -> None:
    data = {"syn": [_image(0), _image(1)]}
    alone = run_benchmark(["median"], ["gaussian:sigma=15"], data)
    more = run_benchmark(["identity", "median"], ["gaussian:sigma=15"], data)
    pick = [r["psnr"] for r in alone if r["restorer"] == "median"]
    assert pick == [r["psnr"] for r in more if r["restorer"] == "median"]


def test_identity_equals_input_row_and_filters_beat_it_on_noise() -> None:
    rows = run_benchmark(["identity", "gaussian-filter"], ["gaussian:sigma=25"],
                         {"syn": [_image(0)]})
    by = {r["restorer"]: r for r in rows}
    assert by["identity"]["psnr"] == pytest.approx(by[INPUT_LABEL]["psnr"])
    assert by["identity"]["ssim"] == pytest.approx(by[INPUT_LABEL]["ssim"])
    assert by["gaussian-filter"]["psnr"] > by[INPUT_LABEL]["psnr"] + 3


def test_degraded_input_is_clipped_to_unit_range() -> None:
    # sigma=200 pushes most pixels out of [0, 1]; clipping makes the input PSNR much better
    # than the unclipped noise (about 2 dB) would give.
    rows = run_benchmark(["identity"], ["gaussian:sigma=200"], {"syn": [_image(0)]})
    assert rows[0]["psnr"] > 4.0


def test_summarize_means_per_group() -> None:
    rows = run_benchmark(["median"], SPECS, {"a": [_image(0), _image(1)], "b": [_image(2)]})
    summary = summarize(rows)
    assert len(summary) == 2 * len(SPECS) * 2
    first = summary[0]
    assert (first["dataset"], first["degradation"], first["restorer"]) == ("a", SPECS[0],
                                                                           INPUT_LABEL)
    group = [r for r in rows if (r["dataset"], r["degradation"], r["restorer"])
             == ("a", SPECS[0], "median")]
    mean = next(s for s in summary if (s["dataset"], s["degradation"], s["restorer"])
                == ("a", SPECS[0], "median"))
    assert mean["images"] == 2
    assert mean["psnr"] == pytest.approx(sum(r["psnr"] for r in group) / 2)
    assert math.isfinite(mean["ssim"])


def test_limit_and_crop_border(tmp_path: Path) -> None:
    rows = run_benchmark(["median"], ["gaussian:sigma=10"], {"s": _folder(tmp_path, 3)},
                         limit=1, crop_border=4, include_input=False)
    assert [r["image"] for r in rows] == ["im0.png"]
    assert [r["restorer"] for r in rows] == ["median"]


@pytest.mark.parametrize("kwargs, error", [
    ({"restorers": ["no-such-method"]}, UnknownNameError),
    ({"degradations": ["gaussian:sigmaa=3"]}, SpecError),
    ({"restorers": []}, RestorekitError),
    ({"degradations": []}, RestorekitError),
])
def test_bad_input_raises_restorekit_errors(kwargs: dict, error: type) -> None:
    args = {"restorers": ["median"], "degradations": ["gaussian:sigma=5"],
            "datasets": {"s": [_image(0)]}, **kwargs}
    with pytest.raises(error):
        run_benchmark(**args)


def test_empty_or_missing_dataset_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(RestorekitError, match="no images"):
        run_benchmark(["median"], ["gaussian:sigma=5"], {"e": tmp_path / "empty"})
    with pytest.raises(RestorekitError, match="not found"):
        run_benchmark(["median"], ["gaussian:sigma=5"], {"e": tmp_path / "nope"})


def test_trained_weights_and_shipped_models_can_be_benchmarked(tmp_path: Path) -> None:
    """Methods may be ARCH@WEIGHTS (two weight files of one arch side by side) or zoo names."""
    import torch

    from restorekit.restorers.base import build_net
    from restorekit.weights import save_weights

    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        net = build_net("dncnn", depth=3, channels=8)
        paths.append(save_weights(net, tmp_path / f"w{seed}.safetensors", arch="dncnn",
                                  config={"depth": 3, "channels": 8}))
    methods = [f"dncnn@{p}" for p in paths] + ["rk-unet-gray-blind"]
    rows = run_benchmark(methods, ["gaussian:sigma=25"], {"s": [_image()]}, include_input=False)
    by = {r["restorer"]: r["psnr"] for r in rows}
    assert set(by) == set(methods)
    assert by[methods[0]] != by[methods[1]]  # different weights, different results
    assert by["rk-unet-gray-blind"] > max(by[methods[0]], by[methods[1]])
    with pytest.raises(RestorekitError, match="not found"):
        run_benchmark([f"dncnn@{tmp_path / 'nope.safetensors'}"], ["gaussian:sigma=5"],
                      {"s": [_image()]})
