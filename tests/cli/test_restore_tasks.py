"""``restorekit restore`` out of the box: the shipped denoiser by default, and --task."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "restorekit", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def write_png(path: Path, array: np.ndarray) -> None:
    Image.fromarray(np.round(np.clip(array, 0, 1) * 255).astype(np.uint8)).save(path)


def smooth(h: int = 48, w: int = 56) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return 0.5 + 0.3 * np.sin(x / 6.0) * np.cos(y / 8.0)


def test_no_flags_runs_the_shipped_denoiser_and_prints_sigma(tmp_path: Path) -> None:
    clean = smooth()
    write_png(tmp_path / "in.png", clean + np.random.default_rng(0).normal(0, 20 / 255,
                                                                          clean.shape))
    proc = run("restore", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"))
    assert proc.returncode == 0, proc.stderr
    assert "method=rk-unet-gray-blind" in proc.stderr and "(estimated)" in proc.stderr
    out = np.asarray(Image.open(tmp_path / "out.png"), dtype=np.float32) / 255
    noisy = np.asarray(Image.open(tmp_path / "in.png"), dtype=np.float32) / 255
    assert np.abs(out - clean).mean() < 0.6 * np.abs(noisy - clean).mean()


def test_sr_task_writes_an_upscaled_image(tmp_path: Path) -> None:
    write_png(tmp_path / "small.png", smooth(16, 20))
    proc = run("restore", str(tmp_path / "small.png"), "--task", "sr", "--scale", "2",
               "-o", str(tmp_path / "big.png"))
    assert proc.returncode == 0, proc.stderr
    assert Image.open(tmp_path / "big.png").size == (40, 32)
    assert "method=edsr-sr2-y" in proc.stderr
    proc = run("restore", str(tmp_path / "small.png"), "--task", "sr", "--scale", "2",
               "--model", "bicubic", "-o", str(tmp_path / "bicubic.png"))
    assert proc.returncode == 0 and "method=bicubic" in proc.stderr, proc.stderr
    assert Image.open(tmp_path / "bicubic.png").size == (40, 32)


def test_jpeg_input_reports_its_quality_and_the_deblocker_hint(tmp_path: Path) -> None:
    """A JPEG's quality is read from its tables; a blocky one suggests --task jpeg."""
    image = Image.fromarray(np.round(smooth() * 255).astype(np.uint8))
    image.save(tmp_path / "low.jpg", quality=15)
    image.save(tmp_path / "high.jpg", quality=90)
    proc = run("restore", str(tmp_path / "low.jpg"), str(tmp_path / "high.jpg"),
               "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    low, high = (next(line for line in proc.stderr.splitlines() if name in line)
                 for name in ("low.jpg", "high.jpg"))
    assert "jpeg-quality=15 (blocking likely: try --task jpeg)" in low
    assert "jpeg-quality=90" in high and "try --task" not in high
    # --task jpeg picks the deblocker made for the quality read from the file
    proc = run("restore", str(tmp_path / "low.jpg"), str(tmp_path / "high.jpg"), "--task",
               "jpeg", "-o", str(tmp_path / "deblocked"))
    assert proc.returncode == 0, proc.stderr
    assert "method=rk-unet-jpeg-gray-q10-20 jpeg-quality=15" in proc.stderr
    assert "method=rk-unet-jpeg-gray jpeg-quality=90" in proc.stderr
    assert "try --task" not in proc.stderr


def test_a_png_that_was_a_jpeg_gets_the_deblocker_for_its_estimated_quality(
        tmp_path: Path, textured_image: np.ndarray) -> None:
    from restorekit.degrade.jpeg import jpeg_roundtrip

    write_png(tmp_path / "was_q15.png", jpeg_roundtrip(textured_image[..., 0], 15))
    write_png(tmp_path / "never.png", textured_image[..., 0])
    proc = run("restore", str(tmp_path / "was_q15.png"), str(tmp_path / "never.png"),
               "--task", "jpeg", "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    was, never = (next(line for line in proc.stderr.splitlines() if name in line)
                  for name in ("was_q15.png", "never.png"))
    assert "method=rk-unet-jpeg-gray-q10-20 jpeg-quality~15 (from its pixels)" in was
    assert "method=rk-unet-jpeg-gray " in never and "jpeg-quality" not in never


def test_inpaint_task_with_mask_file(tmp_path: Path) -> None:
    clean = smooth()
    holed = clean.copy()
    holed[10:20, 10:20] = 0
    write_png(tmp_path / "holed.png", holed)
    mask = np.zeros(clean.shape, np.uint8)
    mask[10:20, 10:20] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    proc = run("restore", str(tmp_path / "holed.png"), "--task", "inpaint", "--mask",
               str(tmp_path / "mask.png"), "-o", str(tmp_path / "filled.png"))
    assert proc.returncode == 0, proc.stderr
    out = np.asarray(Image.open(tmp_path / "filled.png"), dtype=np.float32) / 255
    assert np.abs(out[10:20, 10:20] - clean[10:20, 10:20]).mean() < 0.05


def test_task_usage_errors_are_one_line(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", smooth())
    for args, text in ((("--task", "sr"), "--scale"),
                       (("--mask", str(tmp_path / "a.png")), "--task inpaint"),
                       (("--model", "median", "--self-ensemble"), "applies to networks"),
                       # auto inpainting with a mask is biharmonic: refused before reading
                       (("--task", "inpaint", "--mask", str(tmp_path / "a.png"),
                         "--self-ensemble"), "--self-ensemble applies to networks; auto"),
                       (("--task", "inpaint", "--mask", str(tmp_path / "a.png"), "--tile",
                         "64"), "--tile applies to networks; auto")):
        proc = run("restore", str(tmp_path / "a.png"), "-o", str(tmp_path / "b.png"), *args)
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert proc.returncode != 0 and "Traceback" not in proc.stderr
        assert len(lines) == 1 and text in lines[0], proc.stderr
        assert not (tmp_path / "b.png").exists()
    # A per-image failure is reported in the batch summary, naming the file.
    proc = run("restore", str(tmp_path / "a.png"), "-o", str(tmp_path / "b.png"),
               "--task", "inpaint")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "a.png: inpainting needs a mask" in proc.stderr
    assert not (tmp_path / "b.png").exists()


def test_self_ensemble_runs_the_net_on_eight_orientations(tmp_path: Path) -> None:
    clean = smooth()
    write_png(tmp_path / "in.png", clean + np.random.default_rng(1).normal(0, 20 / 255,
                                                                          clean.shape))
    outs = {}
    for name, extra in (("plain", ()), ("x8", ("--self-ensemble",))):
        proc = run("restore", str(tmp_path / "in.png"), "-o", str(tmp_path / f"{name}.png"),
                   "--sigma", "20", *extra)
        assert proc.returncode == 0, proc.stderr
        outs[name] = np.asarray(Image.open(tmp_path / f"{name}.png"), dtype=np.float32) / 255
    err = {k: float(np.mean((v - clean) ** 2)) for k, v in outs.items()}
    assert np.abs(outs["x8"] - outs["plain"]).max() > 0  # a different computation
    # and a better one: averaging the eight answers cancels part of the error (no padding
    # beyond the net's multiple: mirrored noise at the border cost 7 % MSE here)
    assert err["x8"] < err["plain"]


def test_models_marks_shipped_weights() -> None:
    proc = run("models", "--json")
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert "rk-unet-gray-blind" in rows["rk-unet"]["weights"]
    assert rows["bm3d"]["weights"] == "-"


def test_models_text_lists_the_shipped_models_with_their_scores() -> None:
    proc = run("models")
    assert proc.returncode == 0, proc.stderr
    restorers, shipped = proc.stdout.split("Shipped models")
    rk = next(ln for ln in restorers.splitlines() if ln.startswith("rk-unet "))
    assert int(rk.split()[5]) >= 2  # how many shipped models are built on it
    sr = next(ln for ln in shipped.splitlines() if ln.startswith("rk-unet-sr-y "))
    assert "gray x2/3/4" in sr and "set5 resample:scale=2: 3" in sr
    # the default column says where restore picks a model: the x2 specialist wins at x2,
    # so the multi-scale net, though its card is marked default, is picked nowhere
    head = next(ln for ln in shipped.splitlines() if ln.startswith("name "))
    col = head.index("default")
    assert sr[col:].split()[0] != "gray"
    sr2 = next(ln for ln in shipped.splitlines() if ln.startswith("edsr-sr2-y "))
    assert sr2[col:].split()[:2] == ["gray", "x2,rgb"]
    assert all(ln == ln.rstrip() for ln in proc.stdout.splitlines())
    classical = run("models", "--kind", "classical").stdout
    assert "Shipped models" not in classical and "rk-unet" not in classical


def test_fit_cuts_lines_to_the_terminal_width() -> None:
    from restorekit.cli.models import _fit

    assert _fit("abcdef  \nab", 4) == "abc…\nab"
    assert _fit("abcdef  ", None) == "abcdef"


def test_pixel_limit_refuses_big_inputs_unless_lifted(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", smooth())  # 56x48 = 2688 pixels
    proc = run("restore", str(tmp_path / "a.png"), "-o", str(tmp_path / "b.png"),
               "--method", "median", "--max-pixels", "1000")
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr
    assert "2688 pixels exceeds the limit of 1000" in lines[0] and "--max-pixels" in lines[0]
    assert not (tmp_path / "b.png").exists()
    proc = run("restore", str(tmp_path / "a.png"), "-o", str(tmp_path / "b.png"),
               "--method", "median", "--max-pixels", "0")
    assert proc.returncode == 0, proc.stderr
