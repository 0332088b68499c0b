"""memnet-restoration reproduction: plan checks and a seconds-long smoke run on tiny data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from restorekit.errors import RestorekitError
from restorekit.reproduce import ReproContext, get_experiment
from restorekit.reproduce import memnet_restoration as exp
from restorekit.reproduce import memnet_restoration_plan as mp

torch.set_num_threads(1)


def test_registered_and_budgets_fit() -> None:
    e = get_experiment("memnet-restoration")
    assert e.name == "memnet-restoration" and "MemNet" in e.claim
    quick, full = mp.load_plan("quick"), mp.load_plan("full")
    assert quick.budget.steps < full.budget.steps
    assert list(quick.tasks) == list(mp.TASK_ORDER)
    # the study's SR uses nearest-neighbour scaling, MemNet's bicubic; JPEG is tested at 10 and 20
    assert "down=nearest,up=nearest" in quick.tasks["sr-nearest"].train
    assert "nearest" not in quick.tasks["sr-bicubic"].train
    assert set(quick.tasks["jpeg"].tests) == {"jpeg:quality=10", "jpeg:quality=20"}
    combined = quick.tasks["combined"].train.split("+")
    assert [s.split(":")[0] for s in combined] == ["resample", "salt-pepper", "jpeg"]


def test_bad_budget_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RestorekitError, match="no budget 'huge'"):
        mp.load_plan("huge")
    bad = tmp_path / "experiment.toml"
    bad.write_text("[budgets.quick]\nsteps = 1\nnot_a_field = 2\n")
    with pytest.raises(RestorekitError, match="bad \\[budgets.quick\\]"):
        mp.load_plan("quick", bad)


def test_depth_and_step_cost() -> None:
    assert mp.depth(6, 6) == 80 and mp.depth(10, 10) == 212 and mp.depth(1, 1) == 5
    sec, params = mp.step_seconds(1, 1, 4, batch=1, patch=16)
    assert sec > 0 and params > 0
    _, bigger = mp.step_seconds(2, 1, 4, batch=1, patch=16)
    assert bigger > params


def _tiny_data(tmp_path: Path, dataset) -> Path:  # noqa: ANN001
    """A data root of symlinks: three small T91 images to train on, the real test sets."""
    root = tmp_path / "data"
    train = root / "bsd200_t91" / "t91"
    train.mkdir(parents=True)
    t91 = dataset("bsd200_t91") / "t91"
    for name in ("t1.bmp", "t2.bmp", "t3.bmp"):
        (train / name).symlink_to(t91 / name)
    for name in ("set12", "set5", "classic5"):
        (root / name).symlink_to(dataset(name), target_is_directory=True)
    return root


def test_tiny_run_writes_report_and_figures(tmp_path: Path, dataset) -> None:  # noqa: ANN001
    root = _tiny_data(tmp_path, dataset)
    ctx = ReproContext.create("memnet-restoration", budget="quick", out=tmp_path / "out",
                              seed=0, device="cpu", quiet=True, data_root=root)
    report = exp.tiny(ctx)
    path = report.write(ctx.out / "memnet-restoration.md", ["# title"])
    text = path.read_text()
    for heading in ("What the study claims", "Headline: every task, PSNR (dB) / SSIM",
                    "Stress tests (study Sec. 6.3.1)", "Ablation over depth (study Sec. 6.4.2)",
                    "Cost of depth: why not M6R6", "RGB extension (study Sec. 6.3.3)",
                    "Not reproduced exactly"):
        assert f"## {heading}" in text
    for png in ("tasks.png", "stress_jpeg.png", "stress_salt_pepper.png",
                "stress_sr_scale.png", "cross_task.png", "ablation_depth.png",
                "loss_memnet.png", "loss_ablation.png"):
        assert (ctx.figures / png).stat().st_size > 1000
        assert f"(memnet-restoration/{png})" in text
    assert re.search(r"\*\*(met|not met)\*\* for", text)
    # every headline row has finite PSNR / SSIM pairs for input, MemNet and rk-unet
    rows = re.findall(r"^\| [^|]+ \| [^|]+ \| [^|]+ \| ([\d.]+) / ([\d.]+) \| ([\d.]+) / "
                      r"([\d.]+) \| ([\d.]+) / ([\d.]+) \|", text, re.M)
    assert len(rows) == 7  # s&p 0.1, 0.2; SR nn; SR bicubic; JPEG q10, q20; combined
    assert all(0 < float(v) for r in rows for v in r)
    # the cross-task matrix has the input row and one row per task model
    for name in ("input", *mp.TASK_ORDER):
        assert re.search(rf"^\| {re.escape(name)} \| [\d.]+ \|", text, re.M)
    # training runs are named by steps x batch, patch and seed (re-runs resume, not clobber)
    # and by a digest of what was trained (an edited config never reuses an old run)
    runs = {re.sub(r"-[0-9a-f]{8}$", "", p.name): p for p in ctx.work.iterdir()}
    lr = f"lr{mp.load_plan('quick').budget.memnet_lr:g}"  # MemNet runs name their lr
    assert f"memnet-denoise-2x2p24-{lr}-seed0" in runs and "rk-unet-jpeg-2x2p24-seed0" in runs
    assert {f"memnet-denoise-{k}-2x2p24-{lr}-seed0" for k in ("M1R2", "rgb")} <= set(runs)
    weights = runs[f"memnet-denoise-2x2p24-{lr}-seed0"] / "memnet-denoise.safetensors"
    assert weights.is_file()
    assert "starts at zero" in text  # memnet.toml's recon_init, stated in the setup


def test_spec_labels_and_ablation_note() -> None:
    assert exp._short("resample:scale=3,down=nearest,up=nearest") == "x3 nn"
    assert exp._short("salt-pepper:amount=0.05+jpeg:quality=20") == "s&p 0.05 + q20"
    rows = [{"model": "M1R1", "convs": 5, "psnr": 20.0}, {"model": "M2R2", "convs": 12,
                                                          "psnr": 21.0},
            {"model": "M3R3", "convs": 23, "psnr": 22.0}]
    assert "Best: M3R3 (22.00 dB)" in exp._ablation_note(rows)
    assert "+1.00" in exp._ablation_note(rows)
    rows[2]["psnr"] = 19.0  # deepest now worst
    assert "Best: M2R2" in exp._ablation_note(rows) and "-0.50" in exp._ablation_note(rows)
