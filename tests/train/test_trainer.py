"""The trainer end to end on a tiny folder (real make_dataset + registered nets), the
optimizers and schedules, and the ``restorekit train`` command."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from restorekit.errors import RestorekitError
from restorekit.train.config import load_config, save_config
from restorekit.train.optim import Schedule, build_optimizer
from restorekit.train.trainer import LOG_FIELDS, Trainer, train


def test_run_writes_config_log_checkpoints_and_weights(make_config) -> None:
    result = train(make_config(), quiet=True)
    out = result.out_dir
    assert result.step == 20 and result.exit_code == 0
    assert (out / "checkpoints" / "last.pt").is_file()
    assert (out / "checkpoints" / "best.pt").is_file()
    saved = load_config(out / "config.toml")
    assert saved.model.config == {"depth": 3, "channels": 8, "in_channels": 1,
                                  "out_channels": 1}  # channels filled from data.color
    assert saved.train.out_dir == str(out)

    with open(out / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == LOG_FIELDS
    assert [int(r["step"]) for r in rows] == [5, 10, 15, 20]
    assert rows[1]["val_psnr"] and not rows[0]["val_psnr"]
    assert all(math.isfinite(float(r["loss"])) for r in rows)

    card = json.loads((out / "tiny.json").read_text())
    assert card["arch"] == "dncnn" and card["steps"] == 20
    assert card["wall_seconds"] >= 0 and card["date"]
    assert card["val"]["psnr"] == pytest.approx(result.val["psnr"])
    assert 0 < card["val"]["ssim"] <= 1 and card["val"]["images"] == 2
    assert card["data"]["train"] == f"folder:{Path(saved.data.root).name}/train"
    assert card["training"]["train"]["steps"] == 20

    from restorekit.weights import load_network

    net, _ = load_network(result.weights)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(),
                                                 result.model.state_dict().values(),
                                                 strict=True))


def test_card_names_the_folders_read_and_flags_validation_on_training_images(
        make_config, image_root: Path) -> None:
    flat = str(image_root / "train")  # no split sub-folders: the folder itself is read
    cfg = make_config(data={"root": flat, "val_root": flat}, train={"steps": 5})
    messages: list[str] = []
    result = Trainer(cfg, log=messages.append).run()
    card = json.loads((result.out_dir / "tiny.json").read_text())
    assert card["data"]["train"] == "folder:train"
    assert card["data"]["val"] == "folder:train (training images too)"
    assert any("validation folder is one of the training folders" in m for m in messages)
    assert card["data"]["licence"] == "not stated beside the data; give it as data.licence"


def test_card_names_the_data_licence(make_config, image_root: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "licensed"
    shutil.copytree(image_root, root)
    (root / "README.md").write_text("- License: research only,\n  no redistribution.\n")
    result = train(make_config(data={"root": str(root), "val_root": str(root)},
                               train={"steps": 5}), quiet=True)
    card = json.loads((result.out_dir / "tiny.json").read_text())
    assert card["data"]["licence"] == "research only, no redistribution."
    given = train(make_config("given", data={"root": str(root), "val_root": str(root),
                                             "licence": "CC BY 4.0"}, train={"steps": 5}),
                  quiet=True)
    assert json.loads((given.out_dir / "tiny.json").read_text())["data"]["licence"] == \
        "CC BY 4.0"


def test_training_reduces_loss_and_improves_val_psnr(make_config) -> None:
    result = train(make_config(train={"steps": 60, "val_interval": 10, "log_interval": 10,
                                      "lr": 3e-3}), quiet=True)
    with open(result.out_dir / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    losses = [float(r["loss"]) for r in rows]
    psnrs = [float(r["val_psnr"]) for r in rows]
    assert losses[-1] < 0.5 * losses[0]
    assert psnrs[-1] > psnrs[0] + 1.0
    assert result.best_psnr == pytest.approx(max(psnrs), abs=1e-3)


def test_sigma_is_fed_to_accepts_sigma_nets(make_config, monkeypatch) -> None:
    from restorekit.nets.unet import RKUNet

    seen: list[object] = []
    original = RKUNet.forward

    def spy(self, x, sigma=None):
        seen.append(sigma)
        return original(self, x, sigma)

    monkeypatch.setattr(RKUNet, "forward", spy)
    cfg = make_config(model={"name": "rk-unet", "config": {"channels": [8, 16],
                                                          "num_blocks": 1}},
                      train={"steps": 2, "val_interval": 1})
    train(cfg, quiet=True)
    train_sigmas = [s for s in seen if isinstance(s, torch.Tensor) and s.numel() == 4]
    assert len(train_sigmas) == 2
    assert all(((s > 9 / 255) & (s < 41 / 255)).all() for s in train_sigmas)  # 10-40 on 0-1
    assert len(seen) == 2 + 2 * 2  # 2 steps + 2 validations of 2 images, all with sigma
    assert all(s is not None for s in seen)


def test_memnet_multi_supervision_trains(make_config) -> None:
    cfg = make_config(model={"name": "memnet", "config": {"channels": 4, "num_memblocks": 2,
                                                         "num_resblocks": 1}},
                      train={"steps": 3, "loss": "multi_supervision",
                             "loss_options": {"alpha": 0.4}, "val_interval": 0})
    result = train(cfg, quiet=True)
    assert result.step == 3 and math.isfinite(result.val["psnr"])
    with pytest.raises(RestorekitError, match="forward_with_intermediates"):
        train(make_config("b", train={"loss": "memnet"}), quiet=True)


def test_optional_features_run(make_config) -> None:
    messages: list[str] = []
    cfg = make_config(train={"steps": 4, "amp": "bf16", "ema": 0.5, "grad_clip": 0.1,
                             "l2_penalty": 1e-4, "optimizer": "sgd", "momentum": 0.8,
                             "schedule": "plateau", "schedule_options": {"patience": 1},
                             "val_interval": 1, "tensorboard": True},
                      data={"workers": 1})
    trainer = Trainer(cfg, log=messages.append)
    result = trainer.run()
    assert result.step == 4 and trainer.amp_dtype == torch.bfloat16  # CPU autocast, opt-in


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_on_cpu_trains_and_resumes_exactly(make_config, amp: str) -> None:
    """AMP's code paths (autocast, fp16 GradScaler and its checkpointed state) run on CPU too."""
    full = train(make_config("full", train={"steps": 8, "amp": amp}), quiet=True)
    part = make_config("part", train={"steps": 8, "amp": amp})
    Trainer(part, quiet=True).run(stop_at=4)
    ckpt = torch.load(part.out_dir / "checkpoints" / "last.pt", weights_only=True)
    assert bool(ckpt["scaler"]) == (amp == "fp16")
    resumed = Trainer(part, resume=True, quiet=True).run()
    assert resumed.step == 8
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)
    assert math.isfinite(full.val["psnr"])


def test_auto_amp_is_float32_off_cuda(make_config) -> None:
    trainer = Trainer(make_config(train={"amp": "auto", "steps": 1}), quiet=True)
    trainer.run()
    assert trainer.amp_dtype is None and trainer.scaler is None


def test_bad_model_config_names_valid_keys(make_config) -> None:
    cfg = make_config(model={"name": "dncnn", "config": {"depht": 3}})
    with pytest.raises(RestorekitError, match=r"model\.config\.depht.*depth, channels"):
        train(cfg, quiet=True)
    from restorekit.restorers.base import list_restorers

    classical = list_restorers("classical")
    if classical:
        with pytest.raises(RestorekitError, match="classical"):
            train(make_config("c", model={"name": classical[0].name}), quiet=True)


def test_too_small_dataset_is_explained(make_config) -> None:
    cfg = make_config(data={"length": 3}, train={"batch_size": 4})
    with pytest.raises(RestorekitError, match="fewer than one global batch"):
        train(cfg, quiet=True)


def test_schedules() -> None:
    s = Schedule("cosine", base_lr=1.0, total_steps=12, warmup=2, min_lr=0.1)
    assert [s.factor(i) for i in (0, 1)] == [0.5, 1.0]
    assert s.factor(2) == pytest.approx(1.0)
    assert s.factor(7) == pytest.approx(0.55)
    assert s.factor(12) == pytest.approx(0.1)
    step = Schedule("step", base_lr=1.0, total_steps=100, step_size=10, gamma=0.5)
    assert [step.factor(i) for i in (0, 9, 10, 25)] == [1, 1, 0.5, 0.25]
    multi = Schedule("multistep", base_lr=2.0, total_steps=100, milestones=[5, 8], gamma=0.1)
    assert [multi.lr(i) for i in (4, 5, 8)] == pytest.approx([2.0, 0.2, 0.02])
    assert Schedule("constant", base_lr=0.3, total_steps=5).lr(4) == 0.3
    with pytest.raises(RestorekitError, match="unknown train.schedule_options.*step_size"):
        Schedule("step", base_lr=1.0, total_steps=5, milestones=[1])

    plateau = Schedule("plateau", base_lr=1.0, total_steps=10, patience=2, factor=0.5)
    for metric in (20.0, 21.0, 21.0, 21.0, 21.0, 21.0):
        plateau.observe(metric)
    assert plateau.factor(5) == 0.25
    again = Schedule("plateau", base_lr=1.0, total_steps=10, patience=2, factor=0.5)
    again.load_state_dict(plateau.state_dict())
    assert again.factor(5) == 0.25 and again.best == 21.0


@pytest.mark.parametrize("name, kind", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW),
                                        ("sgd", torch.optim.SGD),
                                        ("adadelta", torch.optim.Adadelta)])
def test_optimizers(name: str, kind: type) -> None:
    params = [torch.nn.Parameter(torch.zeros(2))]
    opt = build_optimizer(params, name, lr=0.1, momentum=0.5, weight_decay=0.01)
    assert isinstance(opt, kind)
    assert opt.param_groups[0]["weight_decay"] == 0.01
    if name == "sgd":
        assert opt.param_groups[0]["momentum"] == 0.5


def test_unknown_optimizer() -> None:
    with pytest.raises(RestorekitError, match="unknown optimizer"):
        build_optimizer([torch.nn.Parameter(torch.zeros(1))], "lion", lr=1.0)


def test_cli_train_print_config_run_and_resume(make_config, tmp_path: Path) -> None:
    from restorekit.cli.train import train_command

    cfg = make_config("cli", train={"steps": 4, "val_interval": 0})
    path = save_config(cfg, tmp_path / "cfg")
    runner = CliRunner()
    shown = runner.invoke(train_command, [str(path), "--print-config", "--set", "train.lr=5e-4"])
    assert shown.exit_code == 0, shown.output
    assert "lr = 0.0005" in shown.output and "[model]" in shown.output

    bad = runner.invoke(train_command, [str(path), "--set", "train.lrr=1"])
    assert isinstance(bad.exception, RestorekitError) and "train.lrr" in str(bad.exception)

    first = runner.invoke(train_command, [str(path), "--quiet", "--set", "train.steps=2",
                                          "--device", "cpu"], standalone_mode=False)
    assert first.exception is None and first.return_value == 0
    assert (Path(cfg.train.out_dir) / "tiny.safetensors").is_file()
    again = runner.invoke(train_command, [str(path), "--quiet", "--resume"],
                          standalone_mode=False)
    assert again.exception is None and again.return_value == 0
    ckpt = torch.load(Path(cfg.train.out_dir) / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["step"] == 4


def _set_up(trainer: Trainer) -> Trainer:
    trainer._setup()  # builds the net (and loads init_weights) as run() does first
    return trainer


def test_init_weights_fine_tunes_from_trained_weights(make_config) -> None:
    first = train(make_config(), quiet=True)
    trained = first.model.state_dict().values()
    tuned = _set_up(Trainer(make_config("tuned", train={"init_weights": str(first.weights)}),
                            quiet=True))
    assert all(torch.equal(a, b) for a, b in zip(tuned.net.state_dict().values(), trained,
                                                 strict=True))
    fresh = _set_up(Trainer(make_config("fresh"), quiet=True))
    assert not all(torch.equal(a, b) for a, b in zip(fresh.net.state_dict().values(), trained,
                                                     strict=True))
    with pytest.raises(RestorekitError, match="do not match"):
        _set_up(Trainer(make_config("deeper", model={"name": "dncnn", "config": {"depth": 4}},
                                    train={"init_weights": str(first.weights)}), quiet=True))
    data = bytearray(first.weights.read_bytes())
    data[-3] ^= 0xFF  # the card's sha256 no longer matches
    first.weights.write_bytes(bytes(data))
    with pytest.raises(RestorekitError, match="sha256"):
        _set_up(Trainer(make_config("bad", train={"init_weights": str(first.weights)}),
                        quiet=True))


def test_init_grow_starts_a_deeper_net_from_a_smaller_ones_weights(make_config) -> None:
    unet = {"name": "rk-unet", "config": {"channels": [8, 16], "num_blocks": 1,
                                          "noise_map": False}}
    first = train(make_config(model=unet, train={"steps": 2}), quiet=True)
    deeper = {**unet, "config": {**unet["config"], "num_blocks": [2, 2], "bias": True}}
    grown = _set_up(Trainer(make_config("grown", model=deeper, train={
        "init_weights": str(first.weights), "init_grow": True}), quiet=True))
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        assert torch.allclose(grown.net(x), first.model.cpu()(x), atol=1e-6)
    with pytest.raises(RestorekitError, match="do not match"):  # without init_grow
        _set_up(Trainer(make_config("plain", model=deeper,
                                    train={"init_weights": str(first.weights)}), quiet=True))
    with pytest.raises(RestorekitError, match="cannot be grown"):
        _set_up(Trainer(make_config("dncnn", train={"init_weights": str(first.weights),
                                                    "init_grow": True}), quiet=True))


def test_init_partial_starts_another_scale_from_the_matching_layers(make_config,
                                                                  capsys) -> None:
    edsr = {"name": "edsr", "config": {"scale": 2, "channels": 8, "num_blocks": 1}}
    sr = {"degradation": "resample:scale=2", "val_degradation": "resample:scale=2"}
    first = train(make_config(model=edsr, data=sr, train={"steps": 2}), quiet=True)
    x4 = {**edsr, "config": {**edsr["config"], "scale": 4}}
    trainer = _set_up(Trainer(make_config("x4", model=x4, train={
        "init_weights": str(first.weights), "init_partial": True})))
    assert torch.equal(trainer.net.body[0].conv1.weight.cpu(),
                       first.model.body[0].conv1.weight.cpu())
    assert "3 tensor(s) left at their init: head.weight" in capsys.readouterr().err


def test_extra_roots_join_the_training_pool_only(image_root: Path, make_config) -> None:
    from restorekit.train.trainer import build_datasets

    cfg = make_config(data={"extra_roots": [str(image_root / "val")]})
    train_set, val_set = build_datasets(cfg)
    assert len(train_set.source) == 6 + 2 and len(val_set.source) == 2
    assert train_set.source.names[-1] == "val/01.png"
