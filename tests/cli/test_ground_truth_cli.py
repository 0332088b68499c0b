"""``restorekit ground-truth``, invoked through click's CliRunner on the command object.

The command is not wired into the ``restorekit`` group here, so bad input surfaces as the
RestorekitError that ``restorekit.cli.main`` turns into one error line and exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from restorekit.cli.ground_truth import COMMANDS, ground_truth_command
from restorekit.cli.state import CliState
from restorekit.errors import RestorekitError
from restorekit.ground_truth import make_synthetic_burst
from restorekit.io import read_image, write_image
from restorekit.metrics import psnr


def _scene(h: int = 64, w: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = 0.5 + 0.2 * np.sin(x / 3.1) * np.cos(y / 4.3) + 0.15 * np.sin((x + 2 * y) / 5.7)
    img[16:40, 12:30] += 0.2
    return np.clip(img, 0.05, 0.95).astype(np.float32)


@pytest.fixture(scope="module")
def burst_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, object]:
    folder = tmp_path_factory.mktemp("burst")
    clean = _scene()
    burst = make_synthetic_burst(clean, 6, seed=11)
    for i, frame in enumerate(burst.frames):
        write_image(folder / f"shot{i:02d}.png", frame, bit_depth=16)
    return folder, clean, burst


def _run(args: list[str], quiet: bool = False):  # noqa: ANN202 - test helper
    return CliRunner().invoke(ground_truth_command, args, obj=CliState(quiet=quiet),
                              catch_exceptions=True)


def _error(res) -> str:  # noqa: ANN001 - click Result
    assert res.exit_code != 0
    assert isinstance(res.exception, RestorekitError), repr(res.exception)
    message = str(res.exception)
    assert "\n" not in message
    return message


def test_command_exported() -> None:
    assert [c.name for c in COMMANDS] == ["ground-truth"]


def test_folder_in_image_out_with_stage_lines_and_report(burst_dir, tmp_path: Path) -> None:
    folder, clean, burst = burst_dir
    out, rep = tmp_path / "gt.png", tmp_path / "gt.json"
    res = _run([str(folder), "-o", str(out), "--reference", "0", "--report", str(rep)])
    assert res.exit_code == 0, res.output
    est, meta = read_image(out)
    assert est.shape == clean.shape and meta.bit_depth == 16  # the reference's depth
    frames = [read_image(p)[0] for p in sorted(folder.glob("*.png"))]
    assert psnr(est, clean) > psnr(np.mean(frames, axis=0), clean) + 3
    assert psnr(est, clean) > psnr(frames[0], clean) + 4
    for stage in ("frames:", "defective pixels:", "reference:", "alignment:", "intensity:",
                  "outlier frames:", "estimate:", "wrote"):
        assert stage in res.stderr, (stage, res.stderr)
    assert "shot02.png" in res.stderr.splitlines()[-1]  # the bad frame is named as dropped
    data = json.loads(rep.read_text())
    assert data["dropped"] == [burst.bad_frame] and data["reference"] == 0
    assert len(data["frames"]) == 6 and len(data["shifts"]) == 6
    kept = [t for t in range(6) if t not in data["dropped"]]
    assert np.abs(np.array(data["shifts"])[kept] - burst.shifts[kept]).max() < 0.25


def test_glob_quiet_and_options(burst_dir, tmp_path: Path) -> None:
    folder, clean, _ = burst_dir
    out = tmp_path / "gt.tif"
    res = _run([str(folder / "shot0[0-3].png"), "-o", str(out), "--estimator", "median",
                "--keep-outliers", "--no-intensity", "--passes", "1", "--bit-depth", "8"],
               quiet=True)
    assert res.exit_code == 0, res.output
    assert res.stderr == "" and res.stdout == ""
    est, meta = read_image(out)
    assert meta.format == "TIFF" and meta.bit_depth == 8 and est.shape == clean.shape


def test_featureless_burst_warns_even_when_quiet(tmp_path: Path) -> None:
    folder = tmp_path / "flat"
    folder.mkdir()
    burst = make_synthetic_burst(np.full((48, 48), 0.5, np.float32), 6, seed=2, bad_frame=None)
    for i, frame in enumerate(burst.frames):
        write_image(folder / f"f{i}.png", frame)
    res = _run([str(folder), "-o", str(tmp_path / "gt.png")], quiet=True)
    assert res.exit_code == 0, res.output
    assert res.stderr.startswith("restorekit: warning: low confidence in the shifts")
    assert len(res.stderr.splitlines()) == 1 and "--no-align" in res.stderr
    res = _run([str(folder), "-o", str(tmp_path / "gt2.png"), "--no-align"], quiet=True)
    assert res.exit_code == 0 and res.stderr == ""


def test_existing_output_needs_overwrite(burst_dir, tmp_path: Path) -> None:
    folder, _, _ = burst_dir
    out = tmp_path / "gt.png"
    out.write_bytes(b"keep me")
    assert "already exists" in _error(_run([str(folder), "-o", str(out)]))
    assert out.read_bytes() == b"keep me"
    res = _run([str(folder / "shot00.png"), str(folder / "shot01.png"), "-o", str(out),
                "--overwrite", "--no-align"])
    assert res.exit_code == 0, res.output
    assert read_image(out)[0].shape == (64, 64)


def test_output_equal_to_an_input_is_refused(burst_dir, tmp_path: Path) -> None:
    folder, _, _ = burst_dir
    target = folder / "shot01.png"
    before = target.read_bytes()
    msg = _error(_run([str(folder), "-o", str(target), "--overwrite"]))
    assert "input" in msg
    assert target.read_bytes() == before
    msg = _error(_run([str(folder), "-o", str(tmp_path / "x.png"), "--report", str(target),
                       "--overwrite"]))
    assert "input" in msg and target.read_bytes() == before


def test_too_few_frames(burst_dir, tmp_path: Path) -> None:
    folder, _, _ = burst_dir
    out = tmp_path / "gt.png"
    assert "at least 2 frames" in _error(_run([str(folder / "shot00.png"), "-o", str(out)]))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "at least 2 frames" in _error(_run([str(empty), "-o", str(out)]))
    assert not out.exists()


def test_mismatched_sizes(burst_dir, tmp_path: Path) -> None:
    folder, _, _ = burst_dir
    small = tmp_path / "small.png"
    write_image(small, np.full((40, 48), 0.5, dtype=np.float32))
    rgb = tmp_path / "rgb.png"
    write_image(rgb, np.full((64, 64, 3), 0.5, dtype=np.float32))
    out = tmp_path / "gt.png"
    msg = _error(_run([str(folder / "shot00.png"), str(small), "-o", str(out)]))
    assert "small.png" in msg and "40x48" in msg and "64x64" in msg
    msg = _error(_run([str(folder / "shot00.png"), str(rgb), "-o", str(out)]))
    assert "RGB" in msg and "gray" in msg
    assert not out.exists()


def test_unreadable_or_missing_frames(burst_dir, tmp_path: Path) -> None:
    folder, _, _ = burst_dir
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "gt.png"
    msg = _error(_run([str(folder / "shot00.png"), str(bad), "-o", str(out)]))
    assert "broken.png" in msg
    msg = _error(_run([str(folder / "shot00.png"), str(tmp_path / "nope.png"), "-o", str(out)]))
    assert "nope.png" in msg
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.png"]  # no temp files left


def test_bad_output_and_reference(burst_dir, tmp_path: Path) -> None:
    folder, _, _ = burst_dir
    assert "suffix" in _error(_run([str(folder), "-o", str(tmp_path / "gt.xyz")]))
    assert "does not exist" in _error(_run([str(folder), "-o", str(tmp_path / "no" / "g.png")]))
    assert "out of range" in _error(_run([str(folder), "-o", str(tmp_path / "g.png"),
                                          "--reference", "6"]))
    assert list(tmp_path.iterdir()) == []
