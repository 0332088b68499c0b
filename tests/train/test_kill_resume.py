"""A tiny training run killed with SIGKILL at seeded random moments and resumed with ``--resume``
(``restorekit train CONFIG --resume``) ends with the same weights, bit for bit, and the same log
as an uninterrupted run; no kill leaves a torn checkpoint or a partial export behind.

Unlike SIGTERM (``test_resume.py``), SIGKILL gives the trainer no chance to save: the run
continues from the last periodic checkpoint and repeats the steps after it.
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
from safetensors.torch import load_file

from restorekit.train.config import save_config
from restorekit.train.trainer import train

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")

STEPS = 36
TRAIN = {"steps": STEPS, "threads": 1, "checkpoint_interval": 4, "val_interval": 12,
         "log_interval": 3}


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs from the uninterrupted run"


def log_rows(out_dir: Path) -> list[dict[str, str]]:
    with open(out_dir / "log.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def run(cfg_path: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "restorekit", "train", str(cfg_path),
                             "--resume", "--quiet"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def logged_step(out_dir: Path, since: float) -> int:
    """The last step in log.csv if this run has written it (modified after ``since``)."""
    path = out_dir / "log.csv"
    try:
        if path.stat().st_mtime < since:
            return 0
        lines = path.read_text().splitlines()[1:]
        return max((int(line.split(",", 1)[0]) for line in lines if line[:1].isdigit()),
                   default=0)
    except (OSError, ValueError):
        return 0


def checkpoint_step(out_dir: Path) -> int:
    path = out_dir / "checkpoints" / "last.pt"
    if not path.exists():
        return 0
    return int(torch.load(path, weights_only=True)["step"])  # must never be torn


def test_sigkill_at_random_moments_then_resume_equals_uninterrupted(
        make_config, tmp_path: Path, child_env: dict[str, str]) -> None:
    reference_cfg = make_config("reference", train=TRAIN)
    train(reference_cfg, quiet=True)  # in-process: same arithmetic as `restorekit train`
    ref_dir = Path(reference_cfg.train.out_dir)
    with open(ref_dir / "log.csv", newline="") as f:
        per_step = float(list(csv.DictReader(f))[-1]["seconds"]) / STEPS  # training time only

    cfg = make_config("killed", train=TRAIN)
    out = Path(cfg.train.out_dir)
    cfg_path = save_config(cfg, tmp_path / "killed_cfg")
    rng = np.random.default_rng(7)
    targets = sorted(int(k) for k in rng.choice(np.arange(2, STEPS - 2), 2, replace=False))
    steps_seen = []
    for target in targets:
        # Kill once this process has logged step >= target, plus a random fraction of a few
        # steps: the moment falls in a step, a validation, a log write or a checkpoint save.
        started = time.time()
        proc = run(cfg_path, child_env)
        try:
            deadline = time.monotonic() + 120
            while proc.poll() is None and logged_step(out, since=started) < target:
                assert time.monotonic() < deadline, "the run made no progress"
                time.sleep(0.01)
            time.sleep(float(rng.uniform(0.0, 3.0)) * per_step)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=120)
        if proc.returncode == 0:
            break  # finished before the kill: nothing left to resume
        assert proc.returncode == -signal.SIGKILL
        step = checkpoint_step(out)  # loads: a kill never tears the checkpoint
        assert 0 <= step <= STEPS  # STEPS: killed after the last save, before the export
        if (out / "tiny.safetensors").exists():  # killed after the export: it is complete
            assert_same(load_file(ref_dir / "tiny.safetensors"),
                        load_file(out / "tiny.safetensors"))
        steps_seen.append(step)
    assert any(0 < s < STEPS for s in steps_seen), f"no kill landed mid-run: {steps_seen}"

    done = run(cfg_path, child_env)
    _, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    assert checkpoint_step(out) == STEPS

    assert_same(load_file(ref_dir / "tiny.safetensors"), load_file(out / "tiny.safetensors"))
    assert (out / "tiny.json").is_file()  # the model card too
    ref_ckpt = torch.load(ref_dir / "checkpoints" / "last.pt", weights_only=True)
    got_ckpt = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    for key, value in ref_ckpt["model"].items():
        assert torch.equal(value, got_ckpt["model"][key]), key
    # The log has every step once, with the same numbers (no rows repeated by the resumes).
    assert log_rows(ref_dir) == log_rows(out)
    # No partial file is left in the run folder: the resumed process removed the temporaries
    # of the saves the kills cut short.
    leftovers = [p.relative_to(out) for p in out.rglob(".*")]
    assert not leftovers, f"partial files left: {leftovers}"

STUCK_SAVE = """
import sys, time
import torch
from restorekit.train.config import load_config
from restorekit.train.trainer import train

real_save = torch.save
def stuck(obj, f, *args, **kwargs):
    if isinstance(obj, dict) and obj.get("step") == 4:  # the second checkpoint save
        with open(f, "wb") as fh:
            fh.write(b"half a checkpoint")
        print("saving", flush=True)
        time.sleep(600)
    return real_save(obj, f, *args, **kwargs)
torch.save = stuck
train(load_config(sys.argv[1]), resume=True, quiet=True)
"""


def test_a_checkpoint_save_killed_midway_leaves_no_temporary(
        make_config, tmp_path: Path, child_env: dict[str, str]) -> None:
    cfg = make_config("stuck", train={**TRAIN, "steps": 8, "val_interval": 0})
    out = Path(cfg.train.out_dir)
    cfg_path = save_config(cfg, tmp_path / "stuck_cfg")
    script = tmp_path / "stuck.py"
    script.write_text(STUCK_SAVE)
    proc = subprocess.Popen([sys.executable, str(script), str(cfg_path)], env=child_env,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "saving"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    # The torn save never replaced a good checkpoint: last.pt is absent or complete.
    assert checkpoint_step(out) in (0, 4)
    assert list(out.rglob(".*.tmp.pt")), "the killed save should have left its temporary"
    assert train(cfg, resume=True, quiet=True).step == 8
    leftovers = [p.relative_to(out) for p in out.rglob(".*")]
    assert not leftovers, f"temporary files left: {leftovers}"
