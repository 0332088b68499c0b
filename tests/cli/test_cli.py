"""The console command end to end, through a real subprocess: outputs, batches, error lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None
        ) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "restorekit", *args], capture_output=True,
                          text=True, env=full_env, cwd=cwd, timeout=300)


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """Assert the process failed with exactly one 'restorekit: error:' line and no traceback."""
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("restorekit: error:"), lines[0]
    return lines[0]


def noisy_png(path: Path, *, rgb: bool = False, sigma: float = 20.0, seed: int = 0) -> np.ndarray:
    """Write a smooth image plus Gaussian noise as 8-bit PNG; return the clean float image."""
    y, x = np.mgrid[0:48, 0:56]
    clean = 0.5 + 0.3 * np.sin(x / 6.0) * np.cos(y / 8.0)
    if rgb:
        clean = np.stack([clean, clean[::-1], 1 - clean], axis=-1)
    noisy = clean + np.random.default_rng(seed).normal(0, sigma / 255, clean.shape)
    Image.fromarray(np.round(np.clip(noisy, 0, 1) * 255).astype(np.uint8)).save(path)
    return clean


def test_restore_single_file_reports_estimated_sigma(tmp_path: Path) -> None:
    src = tmp_path / "noisy.png"
    noisy_png(src)
    out = tmp_path / "clean.png"
    proc = run("restore", str(src), "-o", str(out), "--method", "nlm")
    assert proc.returncode == 0, proc.stderr
    assert out.is_file()
    assert "sigma=" in proc.stderr and "(estimated)" in proc.stderr
    assert np.asarray(Image.open(out)).shape == (48, 56)


def test_restore_default_output_name_and_given_sigma(tmp_path: Path) -> None:
    src = tmp_path / "a.png"
    noisy_png(src, rgb=True)
    proc = run("restore", str(src), "--method", "gaussian-filter", "--sigma", "20")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "a_restored.png"
    assert np.asarray(Image.open(out)).shape == (48, 56, 3)
    assert "sigma=20.00" in proc.stderr and "estimated" not in proc.stderr


def test_batch_continues_past_bad_files_and_names_them(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    noisy_png(src / "good1.png")
    noisy_png(src / "good2.png", seed=1)
    (src / "empty.png").write_bytes(b"")
    (src / "text.png").write_text("not an image")
    (src / "trunc.png").write_bytes((src / "good1.png").read_bytes()[:100])
    out = tmp_path / "out"
    proc = run("restore", str(src), "-o", str(out), "--method", "median")
    assert proc.returncode == 1
    assert sorted(p.name for p in out.iterdir()) == ["good1.png", "good2.png"]
    for bad in ("empty.png", "text.png", "trunc.png"):
        assert bad in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "3 failed" in proc.stderr


def test_existing_output_not_overwritten_and_input_never(tmp_path: Path) -> None:
    src = tmp_path / "x.png"
    noisy_png(src)
    before = src.read_bytes()
    out = tmp_path / "y.png"
    out.write_bytes(b"keep")
    proc = run("restore", str(src), "-o", str(out), "--method", "median")
    assert proc.returncode != 0 and out.read_bytes() == b"keep"
    assert "--overwrite" in proc.stderr
    proc = run("restore", str(src), "-o", str(out), "--method", "median", "--overwrite")
    assert proc.returncode == 0 and out.read_bytes() != b"keep"
    proc = run("restore", str(src), "-o", str(src), "--method", "median", "--overwrite")
    assert proc.returncode != 0 and "overwrite an input" in proc.stderr
    assert src.read_bytes() == before


@pytest.mark.parametrize("case", ["missing", "zero-byte", "text", "folder-empty"])
def test_single_bad_input_fails_cleanly(tmp_path: Path, case: str) -> None:
    path = tmp_path / "bad.png"
    if case == "zero-byte":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("hello")
    elif case == "folder-empty":
        path = tmp_path / "empty_dir"
        path.mkdir()
    out = tmp_path / "o.png"
    proc = run("restore", str(path), "-o", str(out), "--method", "median")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_unknown_method_one_line(tmp_path: Path) -> None:
    src = tmp_path / "n.png"
    noisy_png(src)
    line = one_error_line(run("restore", str(src), "--method", "nlmm"))
    assert "nlmm" in line and "nlm" in line


def test_unwritable_output_one_line_no_partial(tmp_path: Path) -> None:
    src = tmp_path / "n.png"
    noisy_png(src)
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    proc = run("restore", str(src), "-o", str(blocker / "out.png"), "--method", "median")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert str(src) in proc.stderr and "cannot create the output folder" in proc.stderr
    assert "internal error" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "n.png"]


def test_output_names_that_cannot_work_are_refused(tmp_path: Path) -> None:
    """A suffix we cannot write is not silently a folder; same-name inputs do not collide."""
    src = tmp_path / "n.png"
    noisy_png(src)
    line = one_error_line(run("restore", str(src), "-o", str(tmp_path / "x.gif"),
                              "--method", "median"))
    assert "'.gif' is not an image suffix" in line and not (tmp_path / "x.gif").exists()
    proc = run("restore", str(src), "-o", str(tmp_path / "x.gif") + "/", "--method", "median")
    assert proc.returncode == 0 and (tmp_path / "x.gif" / "n.png").is_file(), proc.stderr
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        noisy_png(tmp_path / folder / "same.png", seed=len(folder))
    proc = run("restore", str(tmp_path / "a" / "same.png"), str(tmp_path / "b" / "same.png"),
               "-o", str(tmp_path / "out"), "--method", "median", "--overwrite")
    assert proc.returncode == 1
    assert "restored 1 of 2 files; 1 failed" in proc.stderr
    assert f"is already the output of {tmp_path / 'a' / 'same.png'}" in proc.stderr


def test_method_must_fit_the_task_and_sigma_its_scale(tmp_path: Path) -> None:
    src = tmp_path / "n.png"
    noisy_png(src)
    line = one_error_line(run("restore", str(src), "--task", "jpeg", "--method", "nlm"))
    assert "nlm cannot do jpeg" in line
    line = one_error_line(run("restore", str(src), "--method", "dncnn"))
    assert "would run untrained" in line
    line = one_error_line(run("restore", str(src), "--sigma", "300"))
    assert "--sigma" in line and "0<=x<=255" in line
    line = one_error_line(run("restore", str(src), "--scale", "2"))
    assert "--scale applies to --task sr" in line
    line = one_error_line(run("restore", str(src), "--task", "jpeg", "--sigma", "10"))
    assert "--sigma applies to --task denoise" in line
    proc = run("restore", str(src), "--task", "sr", "--scale", "3", "--model", "edsr-sr2-y")
    assert proc.returncode == 2 and "edsr-sr2-y restores x2 upscaling only, not x3" \
        in proc.stderr
    line = one_error_line(run("restore", str(src), "--method", "nlm", "--tile", "64"))
    assert "--tile applies to networks; nlm is not one" in line
    line = one_error_line(run("restore", str(src), "--overwrite", "--skip-existing"))
    assert "contradict" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.png"]


def test_missing_optional_package_gives_install_hint(tmp_path: Path) -> None:
    fake = tmp_path / "fake"
    (fake / "bm3d").mkdir(parents=True)
    (fake / "bm3d" / "__init__.py").write_text("raise ImportError('simulated missing bm3d')\n")
    src = tmp_path / "n.png"
    noisy_png(src)
    proc = run("restore", str(src), "--method", "bm3d",
               env={"PYTHONPATH": f"{fake}{os.pathsep}{REPO}"})
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "pip install" in proc.stderr and "bm3d" in proc.stderr
    assert not (tmp_path / "n_restored.png").exists()


def test_debug_shows_traceback(tmp_path: Path) -> None:
    proc = run("--debug", "restore", str(tmp_path / "missing.png"), "-o",
               str(tmp_path / "o.png"), "--method", "nlmm")
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_debug_shows_a_files_traceback_and_the_batch_goes_on(tmp_path: Path) -> None:
    noisy_png(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"not an image")
    noisy_png(tmp_path / "c.png", seed=1)
    out = tmp_path / "out"
    quiet = run("restore", str(tmp_path / "b.png"), "-o", str(out / "b.png"), "--method",
                "median")
    assert "Traceback" not in quiet.stderr
    proc = run("--debug", "restore", str(tmp_path), "-o", str(out), "--method", "median")
    assert proc.returncode == 1 and "Traceback" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "c.png"]
    assert "restored 2 of 3 files; 1 failed:" in proc.stderr


def test_unreadable_weights_one_line_without_torch_advice(tmp_path: Path) -> None:
    noisy_png(tmp_path / "a.png")
    (tmp_path / "w.pt").write_bytes(b"x" * 64)
    line = one_error_line(run("restore", str(tmp_path / "a.png"), "-o", str(tmp_path / "o.png"),
                              "--model", f"dncnn@{tmp_path / 'w.pt'}"))
    assert "not a valid PyTorch (torch.save) file" in line and "weights_only" not in line
    assert not (tmp_path / "o.png").exists()


def test_usage_error_one_line() -> None:
    line = one_error_line(run("restore", "--no-such-flag", "x.png"))
    assert "--no-such-flag" in line and "(see 'restorekit restore --help')" in line
    line = one_error_line(run("data", "download", "nope", "--root", "x"))
    assert "(see 'restorekit data download --help')" in line


def test_degrade_spec_seed_and_bad_spec(tmp_path: Path) -> None:
    src = tmp_path / "c.png"
    noisy_png(src, sigma=0)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    for out in (a, b):
        proc = run("degrade", str(src), "-o", str(out), "--spec",
                   "mask:lower-half+salt-pepper:amount=0.2", "--seed", "3")
        assert proc.returncode == 0, proc.stderr
    assert a.read_bytes() == b.read_bytes()
    arr = np.asarray(Image.open(a)).astype(float)
    assert arr[:24].std() > 0
    line = one_error_line(run("degrade", str(src), "-o", str(tmp_path / "z.png"),
                              "--spec", "gausian:sigma=5"))
    assert "gausian" in line
    assert not (tmp_path / "z.png").exists()


def test_degrade_params_file_never_replaces_an_input_or_an_existing_file(tmp_path: Path
                                                                         ) -> None:
    src = tmp_path / "c.png"
    noisy_png(src)
    before = src.read_bytes()
    out = tmp_path / "d.png"
    for params, what in ((src, "overwrite an input"), (out, "also an output"),
                         (tmp_path / "no" / "p.json", "does not exist")):
        line = one_error_line(run("degrade", str(src), "-s", "gaussian:sigma=10",
                                  "--params", str(params), "-o", str(out), "--overwrite"))
        assert what in line and not out.exists()
    assert src.read_bytes() == before
    params = tmp_path / "p.json"
    params.write_text("keep")
    assert "already exists" in one_error_line(run(
        "degrade", str(src), "-s", "gaussian:sigma=10", "--params", str(params), "-o", str(out)))
    assert params.read_text() == "keep" and not out.exists()
    proc = run("degrade", str(src), "-s", "gaussian:sigma=10", "--params", str(params),
               "-o", str(out), "--overwrite")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(params.read_text())["spec"] == "gaussian:sigma=10" and out.exists()


def test_restoring_a_folder_again_replaces_or_skips_its_earlier_outputs(tmp_path: Path
                                                                       ) -> None:
    folder = tmp_path / "b"
    folder.mkdir()
    noisy_png(folder / "gray.png")
    noisy_png(folder / "rgb.png", rgb=True)
    assert run("-q", "restore", str(folder), "-m", "median").returncode == 0
    first = sorted(p.name for p in folder.iterdir())
    assert first == ["gray.png", "gray_restored.png", "rgb.png", "rgb_restored.png"]
    again = run("-q", "restore", str(folder), "-m", "median")  # outputs exist: named, not redone
    assert again.returncode != 0 and "--overwrite" in again.stderr
    assert "would overwrite an input" not in again.stderr
    for flag in ("--skip-existing", "--overwrite"):
        proc = run("-q", "restore", str(folder), "-m", "median", flag)
        assert proc.returncode == 0, proc.stderr
        assert sorted(p.name for p in folder.iterdir()) == first


@pytest.mark.parametrize("rgb", [False, True])
def test_degrade_to_jpeg_keeps_the_spec_quality(tmp_path: Path, rgb: bool) -> None:
    from restorekit.degrade import parse_spec
    from restorekit.io import read_image

    src = tmp_path / "c.png"
    noisy_png(src, sigma=0, rgb=rgb)
    spec = "gaussian:sigma=5+jpeg:quality=10-20"
    out = tmp_path / "d.jpg"
    proc = run("degrade", str(src), "-o", str(out), "--spec", spec, "--seed", "4")
    assert proc.returncode == 0, proc.stderr
    clean, _ = read_image(src)
    expected, params = parse_spec(spec)(clean, np.random.default_rng([4, 0]))
    written, meta = read_image(out)
    assert meta.jpeg_quality is not None and meta.jpeg_quality.exact
    assert meta.jpeg_quality.quality == params["steps"][-1]["quality"]
    # the same blocky image, not a second compression at quality 95
    assert np.abs(written - expected).mean() < 1.5 / 255
    # a spec that does not end in jpeg is written at the default quality
    other = tmp_path / "n.jpg"
    assert run("degrade", str(src), "-o", str(other), "--spec", "jpeg:10+gaussian:sigma=5"
               ).returncode == 0
    assert read_image(other)[1].jpeg_quality.quality == 95
    # a WebP output holds the blocky image exactly (lossless), not a second lossy encoding
    webp = tmp_path / "d.webp"
    assert run("degrade", str(src), "-o", str(webp), "--spec", spec, "--seed", "4"
               ).returncode == 0
    exact = np.rint(expected * 255) / 255
    if not rgb:  # WebP stores gray as RGB
        exact = np.repeat(exact[..., None], 3, axis=2)
    np.testing.assert_array_equal(read_image(webp)[0], exact)


def test_evaluate_formats(tmp_path: Path) -> None:
    ref = tmp_path / "ref.png"
    noisy_png(ref, sigma=0)
    img = tmp_path / "img.png"
    noisy_png(img, sigma=10)
    proc = run("evaluate", "--ref", str(ref), str(img), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert rows[0]["image"].endswith("img.png") and 20 < rows[0]["psnr"] < 40
    assert 0 < rows[0]["ssim"] < 1
    csv = run("evaluate", "--ref", str(ref), str(img), "--format", "csv").stdout
    assert csv.splitlines()[0] == "image,psnr,ssim"
    md = run("evaluate", "--ref", str(ref), str(img), "--format", "md").stdout
    assert md.startswith("| image | psnr | ssim |")


def test_estimate_noise_reports_sigma(tmp_path: Path) -> None:
    img = tmp_path / "n.png"
    noisy_png(img, sigma=20)
    proc = run("estimate-noise", str(img), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    sigma = json.loads(proc.stdout)[0]["sigma"]
    assert 14 < sigma < 26


def test_models_json_lists_classical_and_networks() -> None:
    proc = run("models", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["bm3d"]["kind"] == "classical" and rows["bm3d"]["needs"] == "bm3d"
    assert rows["dncnn"]["kind"] == "network" and rows["dncnn"]["params"] > 100_000
    # restore's own interpolations are listed with their one task
    assert rows["bicubic"]["tasks"] == "sr" and rows["biharmonic"]["tasks"] == "inpaint"
    # a network's tasks include those its shipped models were trained for
    assert {"denoise", "jpeg", "sr", "inpaint"} <= set(rows["rk-unet"]["tasks"].split(","))


def test_an_interpolation_for_another_task_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "n.png"
    noisy_png(src)
    line = one_error_line(run("restore", str(src), "--model", "bicubic"))
    assert "bicubic does sr only (--task sr)" in line
    line = one_error_line(run("restore", str(src), "--task", "denoise", "--model", "nope"))
    assert "nope" in line
    proc = run("restore", str(src), "--task", "sr", "--scale", "2", "--model", "bicubic")
    assert proc.returncode == 0 and "method=bicubic" in proc.stderr


def test_demo_writes_figure_and_table(tmp_path: Path) -> None:
    out = tmp_path / "demo.png"
    proc = run("demo", "-o", str(out), "--size", "48", "-m", "median", "-m", "tv",
               "--format", "csv", "--quiet")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("image,degradation,method,psnr,ssim")
    assert len(lines) == 1 + 2 * 4 * 3  # 2 images x 4 degradations x (input + 2 methods)
    grid = np.asarray(Image.open(out))
    assert grid.ndim == 3 and grid.shape[1] >= 4 * 48
    assert proc.stderr == ""


def test_demo_runs_the_shipped_models_and_refuses_untrained_nets(tmp_path: Path) -> None:
    out = tmp_path / "demo.png"
    proc = run("demo", "-o", str(out), "--size", "48", "-m", "auto", "-m",
               "rk-unet-gray-blind", "--format", "json", "--quiet")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    by = {(r["image"], r["degradation"], r["method"].split("-q")[0]): r["psnr"] for r in rows}
    assert by[("camera", "jpeg:quality=10", "auto: rk-unet-jpeg-gray")] > \
        by[("camera", "jpeg:quality=10", "(input)")]  # a deblocker (for q10 if it reads it)
    assert by[("camera", "gaussian:sigma=25", "auto: rk-unet-gray-blind")] > \
        by[("camera", "gaussian:sigma=25", "(input)")] + 5
    line = one_error_line(run("demo", "-o", str(tmp_path / "d2.png"), "-m", "dncnn"))
    assert "would run untrained" in line and not (tmp_path / "d2.png").exists()


def test_benchmark_and_sweep_commands_end_to_end(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    for i in range(2):
        noisy_png(folder / f"{i}.png", sigma=0, seed=i)
    proc = run("benchmark", "-m", "median", "-d", "gaussian:sigma=25", "--dataset", str(folder),
               "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["restorer"]: r for r in json.loads(proc.stdout)}
    assert rows["median"]["psnr"] > rows["(input)"]["psnr"]
    line = one_error_line(run("benchmark", "-m", "nope", "-d", "gaussian:sigma=25",
                              "--dataset", str(folder)))
    assert "nope" in line
    plot = tmp_path / "sweep.png"
    proc = run("sweep", "-m", "identity", "--spec", "gaussian:sigma={}", "--values", "5,25",
               str(folder), "--format", "json", "--plot", str(plot))
    assert proc.returncode == 0, proc.stderr
    psnrs = [r["psnr"] for r in json.loads(proc.stdout)]
    assert psnrs[0] > psnrs[1] and plot.is_file()


def test_benchmark_and_sweep_skip_unreadable_images_and_name_them(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    for i in range(2):
        noisy_png(folder / f"{i}.png", sigma=0, seed=i)
    (folder / "0b.png").write_bytes(b"not a png")
    proc = run("benchmark", "-m", "median", "-d", "gaussian:sigma=25", "--dataset", str(folder),
               "--format", "json", "--limit", "2", "--per-image")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    rows = json.loads(proc.stdout)  # the table of the readable images is still printed
    assert {r["image"] for r in rows} == {"0.png", "1.png"}  # --limit counts readable ones
    assert "skipped 1 unreadable image" in proc.stderr and "0b.png" in proc.stderr
    proc = run("sweep", "-m", "identity", "--spec", "gaussian:sigma={}", "--values", "5,25",
               str(folder), "--format", "json")
    assert proc.returncode == 1 and len(json.loads(proc.stdout)) == 2
    assert "0b.png" in proc.stderr
    for good in ("0.png", "1.png"):
        (folder / good).unlink()
    line = one_error_line(run("benchmark", "-m", "median", "-d", "gaussian:sigma=25",
                              "--dataset", str(folder)))
    assert "no readable images" in line


def test_every_option_of_every_command_says_what_it_does() -> None:
    import click

    from restorekit.cli import cli

    def commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
        found = []
        for name, cmd in group.commands.items():
            if isinstance(cmd, click.Group):
                found += commands(cmd, f"{prefix}{name} ")
            else:
                found.append((prefix + name, cmd))
        return found

    everything = commands(cli)
    assert len(everything) >= 15  # restore, train, serve, data download, ...
    silent = [(name, p.opts) for name, cmd in everything for p in cmd.params
              if isinstance(p, click.Option) and not p.hidden and not p.help]
    assert not silent, silent


def test_running_out_of_memory_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    import restorekit.cli as cli_module

    def exhausted(*_args: object, **_kwargs: object) -> None:
        raise MemoryError("Unable to allocate 37.3 GiB")

    monkeypatch.setattr(cli_module.cli, "main", exhausted)
    with pytest.raises(SystemExit) as exit_info:
        cli_module.main(["train", "x.toml"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["restorekit: error: not enough memory (Unable to allocate 37.3 GiB); try "
                   "smaller sizes (a patch, batch or tile size)"]
