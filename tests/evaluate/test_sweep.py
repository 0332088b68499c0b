"""sweep and cross_task_matrix: one method across strengths, methods across tasks."""

from __future__ import annotations

import numpy as np
import pytest

from restorekit.errors import SpecError, UnknownNameError
from restorekit.evaluate.benchmark import INPUT_LABEL, run_benchmark, summarize
from restorekit.evaluate.sweep import cross_task_matrix, fill_template, sweep


def _images() -> list[np.ndarray]:
    y, x = np.mgrid[0:40, 0:48]
    a = 0.5 + 0.3 * np.sin(x / 5.0) * np.cos(y / 8.0)
    return [a.astype(np.float32), a[::-1, ::-1].astype(np.float32).copy()]


def test_identity_psnr_decreases_with_sigma() -> None:
    rows = sweep("identity", "gaussian:sigma={}", [5, 15, 25, 50], _images())
    assert [r["value"] for r in rows] == [5, 15, 25, 50]
    assert [r["spec"] for r in rows][0] == "gaussian:sigma=5"
    psnrs = [r["psnr"] for r in rows]
    ssims = [r["ssim"] for r in rows]
    assert all(a > b for a, b in zip(psnrs, psnrs[1:], strict=False))
    assert all(a > b for a, b in zip(ssims, ssims[1:], strict=False))
    # sigma 5 (0-255 scale) without clipping effects is about 34 dB
    assert 31 < psnrs[0] < 37


def test_sweep_matches_benchmark_and_reports_input() -> None:
    rows = sweep("median", "gaussian:sigma={}", [10, 30], _images(), seed=2, include_input=True)
    bench = summarize(run_benchmark(["median"], ["gaussian:sigma=10", "gaussian:sigma=30"],
                                    {"x": _images()}, seed=2))
    med = [b["psnr"] for b in bench if b["restorer"] == "median"]
    inp = [b["psnr"] for b in bench if b["restorer"] == INPUT_LABEL]
    assert [r["psnr"] for r in rows] == pytest.approx(med)
    assert [r["input_psnr"] for r in rows] == pytest.approx(inp)
    assert rows[1]["psnr"] > rows[1]["input_psnr"]


def test_fill_template() -> None:
    assert fill_template("jpeg:quality={}", 20.0) == "jpeg:quality=20"
    assert fill_template("gaussian:sigma={}", 2.5) == "gaussian:sigma=2.5"
    with pytest.raises(SpecError):
        fill_template("gaussian:sigma=5", 1)
    with pytest.raises(SpecError):
        sweep("identity", "gaussian:sigma={}", [], _images())
    with pytest.raises(SpecError):
        sweep("identity", "gaussain:sigma={}", [5], _images())
    with pytest.raises(UnknownNameError):
        sweep("nope", "gaussian:sigma={}", [5], _images())


def test_cross_task_matrix_shape_and_values() -> None:
    specs = ["gaussian:sigma=25", "jpeg:quality=20"]
    rows = cross_task_matrix(["identity", "gaussian-filter"], specs, _images())
    assert [r["restorer"] for r in rows] == [INPUT_LABEL, "identity", "gaussian-filter"]
    assert list(rows[0]) == ["restorer", *specs]
    for spec in specs:
        assert rows[1][spec] == pytest.approx(rows[0][spec])
    assert rows[2]["gaussian:sigma=25"] > rows[0]["gaussian:sigma=25"] + 3
    ssim_rows = cross_task_matrix(["median"], specs, _images(), metric="ssim",
                                  include_input=False)
    assert [r["restorer"] for r in ssim_rows] == ["median"]
    assert all(0 < ssim_rows[0][s] <= 1 for s in specs)
