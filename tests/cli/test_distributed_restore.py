"""Batch restore under torchrun: ranks split the files; a rerun skips finished outputs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def torchrun_restore(src: Path, out: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "restorekit", "restore", str(src), "-o", str(out), "--method", "median"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def test_two_ranks_cover_every_file_once_and_resume(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i in range(5):
        noise = np.random.default_rng(i).random((40, 48))
        Image.fromarray((noise * 255).astype(np.uint8)).save(src / f"{i}.png")
    proc = torchrun_restore(src, out)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [f"{i}.png" for i in range(5)]
    # each file is restored by exactly one rank
    assert sum(proc.stderr.count(f"{src / f'{i}.png'} ->") for i in range(5)) == 5
    # a killed job leaves some outputs; the rerun only does the missing ones
    (out / "1.png").unlink()
    (out / "4.png").unlink()
    proc = torchrun_restore(src, out)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [f"{i}.png" for i in range(5)]
    done = [i for i in range(5) if f"{src / f'{i}.png'} ->" in proc.stderr]
    assert done == [1, 4]


def test_a_bad_file_on_one_rank_does_not_stop_the_other(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for name in ("a", "c", "d", "e"):
        noise = np.random.default_rng(len(name)).random((40, 48))
        Image.fromarray((noise * 255).astype(np.uint8)).save(src / f"{name}.png")
    (src / "b.png").write_bytes(b"not an image")  # the second file: rank 1's first
    proc = torchrun_restore(src, out)
    assert proc.returncode != 0
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "c.png", "d.png", "e.png"]
    # one summary for the whole job, naming the bad file, from rank 0 only
    assert proc.stderr.count("restored 4 of 5 files; 1 failed:") == 1, proc.stderr
    assert f"  {src / 'b.png'}: " in proc.stderr
    assert "restored 2 of 2" not in proc.stderr and "restored 2 of 3" not in proc.stderr
