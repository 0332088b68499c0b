"""benchmark / sweep / plot-loss commands, invoked directly through click's CliRunner.

The commands are not wired into the ``restorekit`` group yet, so bad input surfaces as the
RestorekitError that ``restorekit.cli.main`` turns into one error line.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

from restorekit.cli.sweep import COMMANDS, benchmark_command, plot_loss_command, sweep_command
from restorekit.errors import RestorekitError, SpecError, UnknownNameError


def _folder(path: Path, n: int = 2) -> Path:
    path.mkdir()
    y, x = np.mgrid[0:40, 0:48]
    for i in range(n):
        img = 0.5 + 0.3 * np.sin(x / (5.0 + i)) * np.cos(y / 8.0)
        Image.fromarray(np.round(img * 255).astype(np.uint8)).save(path / f"im{i}.png")
    return path


def _run(command, args: list[str]):  # noqa: ANN001, ANN202 - test helper
    return CliRunner().invoke(command, args, catch_exceptions=True)


def test_commands_exported() -> None:
    assert [c.name for c in COMMANDS] == ["benchmark", "sweep", "plot-loss"]


def test_benchmark_json_and_plot(tmp_path: Path) -> None:
    a, b = _folder(tmp_path / "a"), _folder(tmp_path / "b", 3)
    plot = tmp_path / "bench.png"
    args = ["--method", "identity", "-m", "median", "-d", "gaussian:sigma=25",
            "--degradation", "jpeg:quality=20", "--dataset", str(a), "--dataset", str(b),
            "--limit", "2", "--format", "json", "--plot", str(plot)]
    res = _run(benchmark_command, args)
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert len(rows) == 2 * 2 * 3
    assert {r["dataset"] for r in rows} == {"a", "b"}
    assert all(r["images"] == 2 for r in rows)
    by = {(r["dataset"], r["degradation"], r["restorer"]): r for r in rows}
    assert by[("a", "gaussian:sigma=25", "identity")]["psnr"] == by[
        ("a", "gaussian:sigma=25", "(input)")]["psnr"]
    with Image.open(plot) as im:
        assert im.format == "PNG"
    again = _run(benchmark_command, args[:-2])
    def scores(rs: list[dict]) -> list[tuple]:
        return [(r["restorer"], r["psnr"], r["ssim"]) for r in rs]

    assert scores(json.loads(again.stdout)) == scores(rows)  # seeded: same numbers every run


def test_benchmark_per_image_csv(tmp_path: Path) -> None:
    a = _folder(tmp_path / "a")
    res = _run(benchmark_command, ["-m", "gaussian-filter", "-d", "gaussian:sigma=15",
                                   "--dataset", str(a), "--per-image", "--format", "csv",
                                   "--seed", "7", "--crop-border", "2"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert lines[0] == "dataset,image,degradation,restorer,psnr,ssim,seconds"
    assert len(lines) == 1 + 2 * 2


def test_benchmark_bad_input(tmp_path: Path) -> None:
    a = _folder(tmp_path / "a")
    (tmp_path / "empty").mkdir()
    base = ["-d", "gaussian:sigma=15", "--dataset", str(a)]
    res = _run(benchmark_command, ["-m", "no-such-method", *base])
    assert isinstance(res.exception, UnknownNameError)
    res = _run(benchmark_command, ["-m", "median", "-d", "gaussian:sigma=oops",
                                   "--dataset", str(a)])
    assert isinstance(res.exception, SpecError)
    res = _run(benchmark_command, ["-m", "median", "-d", "gaussian:sigma=5",
                                   "--dataset", str(tmp_path / "empty")])
    assert isinstance(res.exception, RestorekitError) and "no images" in str(res.exception)
    res = _run(benchmark_command, ["-m", "median", "-d", "gaussian:sigma=5"])
    assert res.exit_code == 2  # usage error: --dataset missing


def test_sweep_table_and_plot(tmp_path: Path) -> None:
    a = _folder(tmp_path / "a")
    plot = tmp_path / "sweep.png"
    res = _run(sweep_command, ["--method", "identity", "--spec", "gaussian:sigma={}",
                               "--values", "5,15", str(a), "--plot", str(tmp_path / "s.txt")])
    assert res.exit_code != 0 and "give a name ending in .png" in str(res.exception or
                                                                      res.output)
    assert not (tmp_path / "s.txt").exists()
    res = _run(sweep_command, ["--method", "identity", "--spec", "gaussian:sigma={}",
                               "--values", "5,15,25,50", str(a), "--format", "json",
                               "--plot", str(plot)])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r["value"] for r in rows] == [5, 15, 25, 50]
    psnrs = [r["psnr"] for r in rows]
    assert psnrs == sorted(psnrs, reverse=True) and len(set(psnrs)) == 4
    assert all(math.isclose(r["psnr"], r["input_psnr"]) for r in rows)
    with Image.open(plot) as im:
        assert im.format == "PNG"


def test_sweep_bad_input(tmp_path: Path) -> None:
    a = _folder(tmp_path / "a", 1)
    res = _run(sweep_command, ["-m", "median", "--spec", "gaussian:sigma=5", "--values", "5",
                               str(a)])
    assert isinstance(res.exception, SpecError)
    res = _run(sweep_command, ["-m", "median", "--spec", "gaussian:sigma={}", "--values",
                               "5,x", str(a)])
    assert res.exit_code == 2 and "not a number" in res.output
    (tmp_path / "empty").mkdir()
    res = _run(sweep_command, ["-m", "median", "--spec", "gaussian:sigma={}", "--values", "5",
                               str(tmp_path / "empty")])
    assert isinstance(res.exception, RestorekitError)


def test_plot_loss(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text("step,epoch,loss\n" + "".join(
        f"{s},0,{2 - 0.3 * math.log(s)}\n" for s in range(1, 200)))
    out = tmp_path / "loss.png"
    res = _run(plot_loss_command, [str(log), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "loss = 2 - 0.3 ln(step)" in res.stdout
    with Image.open(out) as im:
        assert im.format == "PNG"
    res = _run(plot_loss_command, [str(tmp_path / "missing.csv"), "-o", str(out)])
    assert isinstance(res.exception, RestorekitError)


def test_plot_never_replaces_an_input_or_an_existing_file(tmp_path: Path) -> None:
    data = _folder(tmp_path / "ds")
    image = data / "im0.png"
    before = image.read_bytes()
    base = ["-m", "identity", "-d", "gaussian:sigma=15", "--dataset", str(data)]
    for plot, what in ((image, "overwrite an input"), (tmp_path / "no" / "p.png", "not exist")):
        res = _run(benchmark_command, [*base, "--plot", str(plot), "--overwrite"])
        assert isinstance(res.exception, RestorekitError) and what in str(res.exception)
    res = _run(sweep_command, [str(image), "-m", "identity", "--spec", "gaussian:sigma={}",
                               "--values", "5", "--plot", str(image), "--overwrite"])
    assert isinstance(res.exception, RestorekitError)
    assert "overwrite an input" in str(res.exception)
    log = tmp_path / "log.csv"
    log.write_text("step,loss\n1,0.5\n2,0.4\n")
    res = _run(plot_loss_command, [str(log), "-o", str(log), "--overwrite"])
    assert isinstance(res.exception, RestorekitError) and log.read_text().startswith("step")
    assert image.read_bytes() == before
    plot = tmp_path / "p.png"
    plot.write_bytes(b"keep")
    res = _run(benchmark_command, [*base, "--plot", str(plot)])
    assert "already exists" in str(res.exception) and plot.read_bytes() == b"keep"
    assert _run(benchmark_command, [*base, "--plot", str(plot), "--overwrite"]).exit_code == 0
    with Image.open(plot) as im:
        assert im.format == "PNG"
