"""sidd-autoencoder reproduction: the scene split, and a seconds-long smoke run on tiny pairs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from restorekit.io import write_image
from restorekit.reproduce import ReproContext, get_experiment
from restorekit.reproduce import sidd_autoencoder as exp

torch.set_num_threads(1)


def _smooth(rng: np.random.Generator, size: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    a, b, c = rng.uniform(1, 4, 3)
    img = np.stack([0.5 + 0.3 * np.sin(a * 6 * x), 0.5 + 0.3 * np.cos(b * 6 * y),
                    0.5 + 0.2 * np.sin(c * 6 * (x + y))], axis=-1)
    return np.clip(img, 0, 1).astype(np.float32)


def _write_pairs(folder: Path, names: list[str], rng: np.random.Generator, size: int = 64
                 ) -> None:
    folder.mkdir(parents=True)
    for name in names:
        clean = _smooth(rng, size)
        noise = rng.normal(0, 0.04, clean.shape) * np.sqrt(0.2 + clean)  # signal-dependent
        write_image(folder / f"{name}_mean.png", clean)
        write_image(folder / f"{name}_real.png", np.clip(clean + noise, 0, 1).astype(np.float32))


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    polyu = [f"Cam{c}_5_160_3200_{scene}_{k}" for c, scene in (("A", "chair"), ("B", "desk"),
                                                               ("A", "toy"))
             for k in (1, 2)]
    _write_pairs(root / exp.POLYU, polyu, rng)
    _write_pairs(root / exp.CC15, ["d800_iso1600_1", "d600_iso3200_2"], rng)
    return root


def test_registered_with_budgets() -> None:
    e = get_experiment("sidd-autoencoder")
    assert e.name == "sidd-autoencoder" and "3,023,235" in e.claim and "61.08" in e.claim
    assert exp.QUICK.ae_steps < exp.FULL.ae_steps
    assert exp.QUICK.patch_size == exp.FULL.patch_size == 256  # the paper's images
    # the autoencoder: smaller crops, more Adam updates at the same pixel rate
    assert exp.FULL.ae_patch < 256 and exp.FULL.ae_batch * exp.FULL.ae_patch ** 2 <= 256 ** 2


def test_scene_split_keeps_scenes_together_and_is_fixed() -> None:
    names = [f"Canon_5_160_3200_s{s}_{k}_real.JPG" for s in range(10) for k in range(s % 3 + 1)]
    train, held = exp.split_scenes(names)
    assert exp.split_scenes(names) == (train, held)  # fixed seed
    assert sorted(train + held) == list(range(len(names))) and not set(train) & set(held)
    assert len(held) >= 0.2 * len(names) and train
    held_scenes = {exp.scene_of(names[i]) for i in held}
    assert not held_scenes & {exp.scene_of(names[i]) for i in train}
    assert exp.split_scenes(names, seed=1) != (train, held)
    assert exp.scene_of("NikonD800_6-3_125_5000_plant_10_real") == "nikond800_6-3_125_5000_plant"
    assert exp.camera_iso("Canon5D2_5_160_3200_chair_11_real") == ("Canon5D2", "3200")
    assert exp.camera_iso("d800_iso6400_2_real") == ("d800", "6400")


def test_oracle_sigma_and_nlf_rows() -> None:
    rng = np.random.default_rng(3)
    clean = np.full((64, 64, 3), 0.5, np.float32)
    noisy = (clean + rng.normal(0, 10 / 255, clean.shape)).astype(np.float32)
    pair = exp.Pair("x_iso100_1_real", noisy, clean)
    assert exp.oracle_sigma(pair) == pytest.approx(10, rel=0.05)


def test_keras_init_is_glorot_uniform_with_zero_biases() -> None:
    """The paper's Keras layers: Glorot-uniform kernels, zero biases (PyTorch's differ)."""
    import math

    from restorekit.restorers.base import build_net
    from restorekit.train.trainer import Trainer

    torch.manual_seed(0)
    net = build_net("sidd-ae")
    layers = list(net.convs) + list(net.deconvs)
    assert any(float(m.bias.detach().abs().max()) > 0 for m in layers)  # PyTorch: uniform biases
    exp.keras_init(net)
    for m in layers:
        w = m.weight.detach()
        k = w.shape[2] * w.shape[3]
        limit = math.sqrt(6 / (k * (w.shape[0] + w.shape[1])))
        assert float(m.bias.detach().abs().max()) == 0
        assert float(w.abs().max()) <= limit
        assert float(w.std()) == pytest.approx(limit / math.sqrt(3), rel=0.1)
    assert issubclass(exp._trainer_class(True), Trainer)
    assert exp._trainer_class(False) is Trainer


def test_tiny_run_writes_report_and_figures(tmp_path: Path, tiny_data: Path) -> None:
    ctx = ReproContext.create("sidd-autoencoder", budget="quick", out=tmp_path / "out", seed=0,
                              device="cpu", quiet=True, data_root=tiny_data)
    report = exp.tiny(ctx, eval_crop=48)
    path = report.write(ctx.out / "sidd-autoencoder.md", ["# title"])
    text = path.read_text()
    for heading in ("The paper's numbers beside ours", "Held-out PSNR / SSIM",
                    "Noise-level function (b1, b2) per image", "Training",
                    "Not reproduced exactly"):
        assert f"## {heading}" in text
    assert "| train loss (final) | 48.31 |" in text and "non-commercial" in text
    for png in ("psnr.png", "nlf.png", "ae_loss.png", "best_loss.png", "examples.png"):
        assert (ctx.figures / png).stat().st_size > 1000
        assert f"(sidd-autoencoder/{png})" in text
    assert re.search(r"\*\*(met|not met)\*\* for the paper's autoencoder", text)
    # every method has a finite PSNR on both held-out sets
    rows = re.findall(r"^\| (noisy input|sidd-ae \(paper's AE\)|rk-unet-real \(ours[^|]*) \| "
                      r"([\d.]+) \| ([\d.]+) \| (-?[\d.]+) \| ([\d.]+) \|", text, re.M)
    assert len(rows) == 3 and all(5 < float(r[1]) < 60 for r in rows)
    # the shipped real-noise model (trained on all of PolyU) is scored on CC15 alone
    shipped = re.search(r"^\| rk-unet-rgb-real \(shipped\) \|(.*)$", text, re.M)
    assert shipped is not None, text
    cells = [c.strip() for c in shipped.group(1).split("|")]
    assert cells[:3] == ["", "", ""] and 5 < float(cells[3]) < 60  # no PolyU numbers
    assert "the shipped `rk-unet-rgb-real`, gains" in text
    noisy = next(r for r in rows if r[0] == "noisy input")
    assert 25 < float(noisy[1]) < 35 and float(noisy[3]) == 0.0  # its gain over itself is 0
    # the NLF rows: one per evaluated image, b1/b2 non-negative, the pair fit sees the noise
    nlf = re.findall(r"^\| (PolyU held-out|CC15) \| (\S+) \| \S+ \| \S+ \| ([\d.e+-]+) \| "
                     r"([\d.e+-]+) \| ([\d.]+) \|", text, re.M)
    assert len(nlf) == 4
    assert all(float(r[2]) >= 0 and float(r[3]) >= 0 and 3 < float(r[4]) < 20 for r in nlf)
    # training runs are named by steps x batch, patch and seed (resumed, not clobbered)
    runs = sorted(p.name for p in ctx.work.iterdir())
    assert any(r.startswith("sidd_ae-2x1-p16-seed0") for r in runs)  # its own crop size
    assert any(r.startswith("rk_unet_real-2x2-p32-seed0") for r in runs)


def test_leader_note_names_the_best_method_a_user_can_run() -> None:
    summary = [{"method": "noisy input", "CC15 PSNR": 33.0, "PolyU PSNR": 36.0},
               {"method": "nlm (oracle sigma)", "CC15 PSNR": 36.4, "PolyU PSNR": 38.5},
               {"method": "rk-unet-real", "CC15 PSNR": 36.1, "PolyU PSNR": 38.9}]
    note = exp._leader_note(summary, ["PolyU", "CC15"])
    assert "PolyU: rk-unet-real (38.90 dB)" in note
    assert "CC15: nlm (oracle sigma) (36.40 dB); without the pair's sigma" in note
    assert note.endswith("rk-unet-real (36.10 dB).")
    assert exp._leader_note(summary[:1], ["X"]) == ""
