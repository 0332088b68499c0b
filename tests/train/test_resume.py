"""Exact resume: N steps equal k steps + resume + N - k steps, bit for bit, on CPU.

Covers a paused run (``stop_at``), a finished run extended with more steps, a run killed by
SIGTERM in a subprocess, and the checkpoint format (``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from restorekit.errors import RestorekitError
from restorekit.train.checkpoint import rng_state, set_rng_state
from restorekit.train.config import save_config
from restorekit.train.trainer import Trainer, train

CHANGING = {"schedule": "cosine", "warmup": 3, "schedule_options": {"min_lr": 1e-5},
            "grad_clip": 1.0, "ema": 0.9, "l2_penalty": 1e-5, "optimizer": "adamw",
            "weight_decay": 1e-4}


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs"


def log_rows(out_dir: Path) -> list[dict[str, str]]:
    with open(out_dir / "log.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


NETS = {
    "dncnn-bn": {"name": "dncnn", "config": {"depth": 3, "channels": 8}},  # BN statistics
    "cnn-cnn-dropout": {"name": "cnn-cnn", "config": {"features": [4, 8], "kernel_size": 3,
                                                      "dropout": 0.25}},  # global torch RNG
    "rk-unet-sigma": {"name": "rk-unet", "config": {"channels": [8, 16], "num_blocks": 1}},
}


@pytest.mark.parametrize("net", list(NETS))
def test_20_steps_equal_10_plus_resume_plus_10(make_config, net: str) -> None:
    straight = train(make_config("a", train=CHANGING, model=NETS[net]), quiet=True)
    assert straight.step == 20 and not straight.interrupted

    cfg = make_config("b", train=CHANGING, model=NETS[net])
    first = train(cfg, quiet=True, stop_at=10)
    assert first.step == 10 and first.interrupted and first.weights is None
    second = train(cfg, quiet=True, resume=True)
    assert second.step == 20 and not second.interrupted

    assert_same_weights(straight.model.state_dict(), second.model.state_dict())
    assert straight.val == second.val
    # The log continues without repeated or missing steps and with the same numbers.
    assert log_rows(straight.out_dir) == log_rows(second.out_dir)
    # EMA weights are what gets exported; they match as well.
    from safetensors.torch import load_file

    assert_same_weights(load_file(straight.weights), load_file(second.weights))


def test_finished_run_extended_equals_a_longer_run(make_config) -> None:
    flat = {"log_interval": 4, "checkpoint_interval": 0}
    longer = train(make_config("a", train={**flat, "steps": 14}), quiet=True)
    short = train(make_config("b", train={**flat, "steps": 8}), quiet=True)
    assert not short.interrupted and short.weights is not None
    more = train(make_config("b", train={**flat, "steps": 14}), quiet=True, resume=True)
    assert more.step == 14
    assert_same_weights(longer.model.state_dict(), more.model.state_dict())


def test_checkpoint_loads_with_weights_only(make_config) -> None:
    result = train(make_config(train={"steps": 6}), quiet=True, stop_at=3)
    path = result.out_dir / "checkpoints" / "last.pt"
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["format"] == "restorekit-checkpoint/1"
    assert ckpt["step"] == 3
    assert {"model", "optimizer", "schedule", "scaler", "rng", "data", "best", "config",
            "elapsed", "ema", "world_size", "loss_acc"} <= set(ckpt)
    assert ckpt["data"]["position"] + ckpt["data"]["epoch"] * 6 == 3  # 24 samples / batch 4
    assert ckpt["config"]["train"]["steps"] == 6
    assert len(ckpt["rng"]) == 1 and isinstance(ckpt["rng"][0]["torch"], torch.Tensor)


def test_existing_run_needs_resume(make_config) -> None:
    cfg = make_config(train={"steps": 4})
    train(cfg, quiet=True, stop_at=2)
    with pytest.raises(RestorekitError, match="--resume"):
        train(cfg, quiet=True)
    messages: list[str] = []
    result = Trainer(cfg, resume=True, log=messages.append).run()
    assert result.step == 4
    assert any("resumed" in m and "step 2" in m for m in messages)
    # Resuming a finished run does nothing (and says so).
    messages.clear()
    again = Trainer(cfg, resume=True, log=messages.append).run()
    assert again.step == 4 and any("already trained" in m for m in messages)
    # Resuming with fewer steps than the checkpoint holds is refused, not reported as done.
    from dataclasses import replace

    shorter = replace(cfg, train=replace(cfg.train, steps=3))
    with pytest.raises(RestorekitError, match="at step 4, past train.steps = 3"):
        Trainer(shorter, resume=True).run()



def test_resuming_another_models_checkpoint_is_one_clear_error(make_config) -> None:
    train(make_config(train={"steps": 4}), quiet=True, stop_at=2)
    other = make_config(model={"name": "dncnn", "config": {"depth": 3, "channels": 16}},
                        train={"steps": 4})
    with pytest.raises(RestorekitError, match="written for another model") as exc:
        Trainer(other, resume=True).run()
    assert "\n" not in str(exc.value) and "choose another train.out_dir" in str(exc.value)


def test_out_dir_under_a_file_is_one_clear_error(make_config, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    for out in (afile, afile / "sub"):
        cfg = make_config(train={"steps": 2, "out_dir": str(out)})
        with pytest.raises(RestorekitError, match="afile is a file, not a folder"):
            train(cfg, quiet=True)
    assert afile.read_text() == "not a folder"

def test_rng_state_round_trip() -> None:
    import random

    state = rng_state()
    a = (random.random(), np.random.rand(), torch.rand(3))
    set_rng_state(state)
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


SCRIPT = """
import sys, time
from pathlib import Path
import torch
from restorekit.train.config import load_config
from restorekit.train.trainer import train

cfg = load_config(sys.argv[1])
mode = sys.argv[2]
callbacks = []
if mode == "slow":  # say when training runs, then slow down so the signal lands mid-run
    ready = Path(sys.argv[3])
    def slow(trainer, step):
        if step == 3:
            ready.write_text("running")
        if step >= 3:
            time.sleep(0.05)
    callbacks = [slow]
result = train(cfg, resume=mode == "resume", quiet=True, callbacks=callbacks)
torch.save(result.model.state_dict(), Path(cfg.train.out_dir) / f"final_{mode}.pt")
sys.exit(result.exit_code)
"""


def test_sigterm_saves_a_checkpoint_and_resume_matches(make_config, tmp_path: Path,
                                                        child_env: dict[str, str]) -> None:
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    cfg = make_config("killed", train={"steps": 40, "threads": 1, "checkpoint_interval": 0,
                                       "val_interval": 0})
    cfg_path = save_config(cfg, tmp_path / "cfgdir")
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, str(script), str(cfg_path), "slow", str(ready)],
                            env=child_env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the child never started training"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    ckpt = torch.load(Path(cfg.train.out_dir) / "checkpoints" / "last.pt", weights_only=True)
    assert 3 <= ckpt["step"] < 40
    assert not (Path(cfg.train.out_dir) / "tiny.safetensors").exists()

    done = subprocess.run([sys.executable, str(script), str(cfg_path), "resume"],
                          env=child_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    resumed = torch.load(Path(cfg.train.out_dir) / "final_resume.pt", weights_only=True)

    reference = train(make_config("reference", train={"steps": 40, "threads": 1,
                                                      "checkpoint_interval": 0,
                                                      "val_interval": 0}), quiet=True)
    assert_same_weights(reference.model.state_dict(), resumed)
    # The log too: the loss averaged over a log interval survives the interruption.
    assert log_rows(reference.out_dir) == log_rows(Path(cfg.train.out_dir))


def test_a_run_stopped_early_says_how_to_continue(make_config) -> None:
    messages: list[str] = []
    Trainer(make_config(train={"steps": 4}), log=messages.append).run(stop_at=2)
    assert any("paused at step 2" in m and "(continue with --resume)" in m for m in messages)
    messages.clear()
    Trainer(make_config("other", train={"steps": 4}), log=messages.append,
            resume_hint="re-run the same reproduce command to continue").run(stop_at=2)
    assert any("(re-run the same reproduce command to continue)" in m for m in messages)
