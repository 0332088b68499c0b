"""PNG plots: sweep lines, benchmark bars, loss curves with a fitted log trend."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restorekit.errors import RestorekitError
from restorekit.evaluate.report import (
    fit_log_trend,
    plot_benchmark,
    plot_loss_curve,
    plot_sweep,
    read_loss_log,
)


def _is_png(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        assert im.format == "PNG"
        im.load()
        return im.size


def test_fit_recovers_log_trend() -> None:
    steps = np.arange(1, 2001, 7)
    a, b = fit_log_trend(steps, 2 - 0.3 * np.log(steps))
    assert (a, b) == (pytest.approx(2.0, abs=1e-9), pytest.approx(-0.3, abs=1e-9))
    noisy = 2 - 0.3 * np.log(steps) + np.random.default_rng(0).normal(0, 0.02, len(steps))
    a, b = fit_log_trend([0, *steps], [5.0, *noisy])  # step 0 is ignored
    assert a == pytest.approx(2.0, abs=0.02) and b == pytest.approx(-0.3, abs=0.01)
    with pytest.raises(RestorekitError):
        fit_log_trend([0, 3, 3], [1.0, 2.0, 2.0])


def test_plot_loss_curve_from_csv(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    lines = ["step,epoch,loss,lr,seconds,val_psnr,val_ssim"]
    lines += [f"{s},0,{2 - 0.3 * math.log(s):.10f},0.001,0.1,," for s in range(1, 300)]
    lines.append("300,1,,0.001,0.1,30.1,0.9")  # a validation-only row without loss
    log.write_text("\n".join(lines) + "\n")
    assert len(read_loss_log(log)) == 299
    out = tmp_path / "loss.png"
    a, b = plot_loss_curve(log, out)
    assert a == pytest.approx(2.0, abs=1e-6) and b == pytest.approx(-0.3, abs=1e-6)
    assert _is_png(out)[0] > 100
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp leftovers


def test_plot_loss_curve_rows_and_errors(tmp_path: Path) -> None:
    assert plot_loss_curve([{"step": 5, "loss": 1.0}], tmp_path / "one.png") is None
    _is_png(tmp_path / "one.png")
    with pytest.raises(RestorekitError):
        plot_loss_curve(tmp_path / "missing.csv", tmp_path / "x.png")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(RestorekitError, match="'step' and 'loss'"):
        plot_loss_curve(bad, tmp_path / "x.png")
    with pytest.raises(RestorekitError):
        plot_loss_curve([], tmp_path / "x.png")
    binary = tmp_path / "img.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(RestorekitError, match="not a CSV"):
        plot_loss_curve(binary, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_plot_sweep_and_benchmark(tmp_path: Path) -> None:
    rows = [{"value": v, "psnr": 40 - v / 3, "input_psnr": 34 - v / 2} for v in (5, 15, 25)]
    _is_png(plot_sweep(rows, "value", "psnr", tmp_path / "s.png"))
    _is_png(plot_sweep(rows, "value", ["psnr", "input_psnr"], tmp_path / "s2.png"))
    with pytest.raises(RestorekitError, match="no column"):
        plot_sweep(rows, "value", "ssim", tmp_path / "s3.png")
    summary = [{"dataset": "d", "degradation": g, "restorer": r, "psnr": p}
               for g in ("gaussian:sigma=25", "jpeg:quality=20")
               for r, p in (("(input)", 20.0), ("median", 27.0), ("identity", math.inf))]
    _is_png(plot_benchmark(summary, tmp_path / "b.png"))
