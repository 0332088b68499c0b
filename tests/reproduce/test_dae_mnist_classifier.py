"""dae-mnist-classifier reproduction: a seconds-long smoke run on a tiny subsample."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from restorekit.reproduce import ReproContext, get_experiment
from restorekit.reproduce import dae_mnist_classifier as exp

torch.set_num_threads(1)


def test_registered_with_budgets() -> None:
    e = get_experiment("dae-mnist-classifier")
    assert e.name == "dae-mnist-classifier" and "98.25" in e.claim
    assert exp.QUICK.dae_steps < exp.FULL.dae_steps
    assert exp.FULL.test_n == 10000  # Table 1 on every test digit, as the paper


def test_crossing_sigma_interpolates() -> None:
    rows = [{"sigma": 100, "noisy": 40.0}, {"sigma": 200, "noisy": 20.0},
            {"sigma": 300, "noisy": 10.0}]
    assert exp.crossing_sigma(rows, 15.0) == pytest.approx(250.0)
    assert exp.crossing_sigma(rows, 30.0) == pytest.approx(150.0)
    assert exp.crossing_sigma(rows, 5.0) == 300  # never reached: the nearest level


def test_tiny_run_writes_report_and_figures(tmp_path: Path, dataset) -> None:  # noqa: ANN001
    root = dataset("mnist").parent
    ctx = ReproContext.create("dae-mnist-classifier", budget="quick", out=tmp_path, seed=0,
                              device="cpu", quiet=True, data_root=root)
    report = exp.tiny(ctx)
    path = report.write(tmp_path / "dae-mnist-classifier.md", ["# title"])
    text = path.read_text()
    for heading in ("Table 1 of the paper beside ours", "Fine-tuned for the classifier",
                    "Accuracy at every noise level",
                    "Representation transfer", "Not reproduced exactly"):
        assert f"## {heading}" in text
    assert "| clean (origin) | 98.25 |" in text and "| denoised | 96.10 |" in text
    for png in ("accuracy_vs_sigma.png", "digits.png", "dae_loss.png", "best_loss.png",
                "transfer.png"):
        assert (ctx.figures / png).stat().st_size > 1000
        assert f"(dae-mnist-classifier/{png})" in text
    assert re.search(r"Our goal, denoised within 1 point of clean: \*\*(met|not met)\*\*", text)
    # every classifier of the noisy digits, the bank Bayes rule and its oracle among them
    readers = dict(re.findall(r"^\| ([^|]+) \| ([\d.]+) \|$", text, re.M))
    for name in ("the clean-digit classifier of Table 1", "trained on digits with this noise",
                 "Bayes rule, prior = the training digits (plug-in)", "trained end to end",
                 "*oracle*: the same Bayes rule on noisy copies of 16 of its own"):
        hit = [v for k, v in readers.items() if name in k]
        assert len(hit) == 1 and 0 <= float(hit[0]) <= 100, name
    assert "noisy_trained" in text
    # the fine-tunes: Table 1's rk-unet and three fine-tunes, each read by two classifiers;
    # only the end-to-end pair has a classifier of its own
    tuned = re.findall(r"^\| rk-unet ([^|]+) \| [^|]+ \| ([\d.]+) \| ([\d.]+) \| ([\d.-]*) \|",
                       text, re.M)
    assert len(tuned) == 4 and [bool(r[3]) for r in tuned] == [False, False, False, True]
    assert all(0 <= float(v) <= 100 for r in tuned for v in r[1:] if v)
    assert re.search(r"The oracle shows what the noise leaves: .* [\d.]+ % of noisy digits",
                     text)
    cached = sorted(p.name for p in (ctx.work / "finetune").iterdir())
    assert len(cached) == 12 and all(n.endswith(".safetensors") for n in cached)
    # the same three fine-tunes at the sweep level of TINY.finetune_sweep_sigmas
    swept = re.findall(r"^\| 100 \| rk-unet ([^|]+) \| [^|]+ \| ([\d.]+) \| ([\d.]+) \|", text,
                       re.M)
    assert len(swept) == 4
    assert re.search(r"Within 1 point of clean accuracy for both clean-digit classifiers: ", text)
    sweep = re.findall(r"^\| (\d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", text,
                       re.M)
    assert {int(r[0]) for r in sweep} >= set(exp.TINY.sigmas)
    assert all(0 <= float(v) <= 100 for r in sweep for v in r[1:])
    # training runs are named by steps x batch + seed (resumed, not clobbered, on re-runs)
    runs = sorted(p.name for p in ctx.work.iterdir())
    assert any(r.startswith("dae_mnist-3x8") for r in runs)
    assert any(r.startswith("rk_unet_mnist-3x8") for r in runs)
