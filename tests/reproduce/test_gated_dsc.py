"""gated-dsc reproduction: the 64x64 classifier, gate folding, and a seconds-long smoke run on
tiny synthetic data (colour images and MNIST-format digits written to a temp data root)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from restorekit.errors import RestorekitError
from restorekit.nets.dsc import ConvDeconv10, Dsc10
from restorekit.reproduce import ReproContext, get_experiment
from restorekit.reproduce import gated_dsc as exp
from restorekit.reproduce import gated_dsc_classifier as C
from restorekit.reproduce import gated_dsc_runs as R

torch.set_num_threads(1)


def _write_png(path: Path, image: np.ndarray) -> None:
    from restorekit.io import write_image

    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, image)


def _idx(path: Path, array: np.ndarray) -> None:
    dims = array.shape
    header = bytes([0, 0, 0x08, len(dims)]) + b"".join(int(d).to_bytes(4, "big") for d in dims)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def _digits(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """Crude synthetic digits: a bright bar whose position encodes the label."""
    x = rng.integers(0, 30, (len(labels), 28, 28)).astype(np.uint8)
    for i, lab in enumerate(labels):
        x[i, 4 + 2 * lab: 6 + 2 * lab, 4:24] = 255
    return x


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    for folder, n, size in (("bsd200_t91/a", 3, 80), ("bsd200_t91/b", 2, 72),
                            ("urban100_sub10", 2, 96)):
        for i in range(n):
            yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
            img = np.stack([yy, xx, 0.5 + 0.4 * np.sin(6 * (xx + i) * yy)], -1)
            _write_png(root / folder / f"im{i}.png", np.clip(img, 0, 1).astype(np.float32))
    mnist = root / "mnist"
    mnist.mkdir(parents=True)
    for prefix, n in (("train", 60), ("t10k", 30)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        _idx(mnist / f"{prefix}-images-idx3-ubyte.gz", _digits(rng, labels))
        _idx(mnist / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return root


def test_registered_and_plan_budgets() -> None:
    e = get_experiment("gated-dsc")
    assert e.name == "gated-dsc" and "7,500" in e.claim and "15,000" in e.claim
    quick, full = R.load_plan("quick"), R.load_plan("full")
    assert set(quick.budget.steps) <= set(full.budget.steps)
    assert all(quick.budget.steps[k] < full.budget.steps[k] for k in quick.budget.steps)
    for name in ("plain-sgd", "dsc-sgd", "plain-adam", "dsc-adam", "dsc-perceptual"):
        assert name in quick.runs
    with pytest.raises(RestorekitError, match="no \\[budgets.tiny\\]"):
        R.load_plan("tiny")


def test_run_configs_follow_the_paper(tmp_path: Path, data_root: Path) -> None:
    ctx = ReproContext.create("gated-dsc", budget="quick", out=tmp_path, seed=3, device="cpu",
                              quiet=True, data_root=data_root)
    plan = R.load_plan("quick")
    plain, dsc = R.run_config(ctx, plan, "plain-sgd"), R.run_config(ctx, plan, "dsc-sgd")
    for cfg in (plain, dsc):
        assert cfg.train.batch_size == 10 and cfg.train.optimizer == "sgd"
        assert cfg.train.momentum == 0 and cfg.train.seed == 3
        assert cfg.data.patch_size == 64 and cfg.data.color == "rgb"
        assert "gaussian" in cfg.data.degradation and "salt-pepper" in cfg.data.degradation
        assert cfg.data.root == str(data_root / "bsd200_t91")
    assert plain.model.name == "conv-deconv10" and dsc.model.name == "dsc10"
    assert dsc.model.config["deltas"] == [0.1, 0.2, 0.3, 0.4]
    adam = R.run_config(ctx, plan, "dsc-adam")
    assert adam.train.optimizer == "adam" and adam.train.lr == pytest.approx(1e-4)
    perceptual = R.run_config(ctx, plan, "dsc-perceptual")
    assert perceptual.train.loss == "perceptual"
    assert perceptual.train.loss_options["layers"] == ["fc"]


def test_stl10_switch_overrides_data(tmp_path: Path, data_root: Path) -> None:
    switch = ("data.kind=stl10", "data.root=/x/stl", "data.split=unlabeled", "data.options={}")
    ctx = ReproContext.create("gated-dsc", budget="quick", out=tmp_path, seed=0, device="cpu",
                              quiet=True, data_root=data_root, overrides=switch)
    plan = R.load_plan("quick")
    cfg = R.run_config(ctx, plan, "dsc-sgd")
    assert (cfg.data.kind, cfg.data.root, cfg.data.split) == ("stl10", "/x/stl", "unlabeled")
    assert cfg.data.options == {}
    plain = ReproContext.create("gated-dsc", budget="quick", out=tmp_path, seed=0,
                                device="cpu", quiet=True, data_root=data_root)
    default = R.run_config(plain, R.load_plan("quick"), "dsc-sgd")
    assert re.search(r"-[0-9a-f]{8}$", cfg.train.out_dir)
    assert Path(cfg.train.out_dir).parent != Path(default.train.out_dir).parent
    assert Path(cfg.train.out_dir).parent.name.startswith("runs-set-")  # never mixed


def test_gates_fold_into_the_classifier() -> None:
    """The classifier initialised from a DSC net computes the DSC encoder's Conv-5 exactly."""
    torch.manual_seed(0)
    net = Dsc10()
    clf = C.DscClassifier()
    assert C.init_from_denoiser(clf, net) == 5
    x = torch.rand(2, 3, 64, 64)
    h = torch.relu(net.convs[0](x))
    deltas = net.deltas()
    for i in range(1, 5):
        h = torch.relu(net.convs[i](deltas[i - 1] * h))
    g = x
    for conv in clf.convs:
        g = torch.relu(conv(g))
    assert torch.allclose(g, h, atol=1e-5)
    plain = ConvDeconv10()
    C.init_from_denoiser(clf, plain)
    assert torch.equal(clf.convs[2].weight, plain.convs[2].weight)
    with pytest.raises(RestorekitError, match="no Conv-1..Conv-5"):
        C.init_from_denoiser(clf, torch.nn.Linear(2, 2))


def test_mnist64_and_classifier_learns() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 40).astype(np.uint8)
    x = C.mnist64(_digits(rng, labels))
    assert x.shape == (40, 3, 64, 64) and 0 <= float(x.min()) and float(x.max()) <= 1
    assert torch.equal(x[:, 0], x[:, 2])
    y = torch.from_numpy(labels.astype(np.int64))
    model, hist = C.train_dsc_classifier(x, y, x, y, epochs=3, seed=0, batch_size=8, lr=1e-3,
                                         evals_per_epoch=1)
    assert [h["iteration"] for h in hist] == [0, 5, 10, 15]
    assert hist[-1]["test_accuracy"] > 90  # two separable classes, trained and tested alike
    again, hist2 = C.train_dsc_classifier(x, y, x, y, epochs=3, seed=0, batch_size=8, lr=1e-3,
                                          evals_per_epoch=1)
    assert [h["test_accuracy"] for h in hist] == [h["test_accuracy"] for h in hist2]  # seeded
    assert [h["train_loss"] for h in hist[1:]] == [h["train_loss"] for h in hist2[1:]]


def test_tiny_run_writes_report_and_figures(tmp_path: Path, data_root: Path) -> None:
    ctx = ReproContext.create("gated-dsc", budget="quick", out=tmp_path, seed=0, device="cpu",
                              quiet=True, data_root=data_root)
    plan = R.load_plan(
        "quick", steps={"plain-sgd": 3, "dsc-sgd": 3, "dsc-adam": 2, "dsc-perceptual": 2},
        curve_points=2, test_crops=4, figure_images=3, classifier_train=20, classifier_test=10,
        classifier_epochs=1, classifier_evals=2, batch_size=2)
    report = exp.run_plan(ctx, plan)
    path = report.write(tmp_path / "gated-dsc.md", ["# title"])
    text = path.read_text()
    assert "**Budget: `quick`**" in text
    summary = text.split("## Summary")[1].split("## Setup")[0]
    assert "* Plain vs DSC (Fig. 6), at this budget:" in summary
    assert "* Perceptual-loss variant:" in summary and "* Classifier from" in summary
    for heading in ("Plain versus DSC: MSE against iteration (Fig. 6)",
                    "Conv-1 feature maps beside noisy / denoised / clean (Figs. 7-9)",
                    "Box-noise test (Sec. 4.3, Fig. 9)", "Perceptual-loss variant",
                    "Classifier pre-trained from the denoiser", "Not reproduced exactly"):
        assert f"## {heading}" in text
    assert re.search(r"Verdict at this budget: our SGD measurement \*\*(supports|neither "
                     r"supports nor refutes|contradicts)\*\*", text)
    assert "MNIST digits resized to 64x64" in text and "not STL-10" in text
    for png in ("mse_sgd.png", "mse_adam.png", "feature_maps_dsc-sgd.png",
                "feature_maps_dsc-adam.png", "conv1_channels.png", "transfer.png"):
        assert (ctx.figures / png).stat().st_size > 1000
        assert f"(gated-dsc/{png})" in text
    (run_dir,) = ctx.work.glob("dsc-sgd-3x2-seed0-*")  # steps x batch, seed, config hash
    curve = (run_dir / "test_curve.csv").read_text().splitlines()
    assert curve[0] == "step,test_mse,test_psnr" and len(curve) == 3  # steps 2 and 3
    # box-noise rows: the input is clean outside the box
    box = re.search(r"^\| box-noised input \| ([\d.,]+) \| ([\d.,]+) \|", text, re.M)
    assert box and float(box.group(2).replace(",", "")) == 0.0
    assert float(box.group(1).replace(",", "")) > 100
    # a second run reuses the finished runs and gives the same numbers
    again = exp.run_plan(ctx, plan).render(["# title"])
    assert again.split("## Setup")[1].split("minutes")[0] == \
        text.split("## Setup")[1].split("minutes")[0]


def test_magnitudes_are_compared_only_at_the_papers_length() -> None:
    assert "not tested" in exp._magnitudes(3000, 5000.0, 6000.0)
    text = exp._magnitudes(10_000, 4000.0, 6000.0)
    assert "DSC 4,000 and plain 6,000 (plain / DSC = 1.50)" in text
    assert "~7,500 and ~15,000" in text and "~2.0" in text
