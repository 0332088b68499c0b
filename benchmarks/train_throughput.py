"""Training throughput on CPU: samples/s of the trainer, and of the data pipeline alone.

Measures, with ``torch.set_num_threads(2)``:

- the trainer (``restorekit.train.Trainer``, the real loop: data, forward, loss, backward, Adam)
  on DnCNN-17 (64 channels, 40x40 patches, batch 64) and on the default net ``rk-unet``
  (its registry defaults), Gaussian sigma 25 on ``$RESTOREKIT_DATA/train400``;
- the data pipeline alone: ``make_dataset("folder", train400, patch_size=40,
  degradation="gaussian:sigma=25")`` through a ``DataLoader`` with the same batch size and
  worker count.

The pipeline must deliver at least 5x the samples/s the fastest model consumes (PASS/FAIL), so
data loading never limits CPU training. Prints a table and writes
``docs/benchmarks/train_throughput.md``. Takes a few minutes::

    python benchmarks/train_throughput.py [--steps 10] [--workers 0]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from machine_info import cpu_model  # noqa: E402  (benchmarks/ is on sys.path)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BATCH, PATCH, SIGMA = 64, 40, 25
REQUIRED_RATIO = 5.0


def data_root() -> Path:
    env = os.environ.get("RESTOREKIT_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def bench_trainer(name: str, config: dict[str, Any], *, steps: int, warmup: int,
                  workers: int) -> dict[str, Any]:
    """Samples/s of the real training loop over ``steps`` timed steps after ``warmup``."""
    from restorekit.train.config import config_from_dict
    from restorekit.train.trainer import Trainer

    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as out:
        cfg = config_from_dict({
            "name": name.replace(" ", "_"),
            "model": {"name": name, "config": config},
            "data": {"kind": "folder", "root": str(data_root() / "train400"),
                     "patch_size": PATCH, "degradation": f"gaussian:sigma={SIGMA}",
                     "val_root": "", "workers": workers,
                     "length": BATCH * (steps + warmup + 1)},
            "train": {"steps": steps + warmup, "batch_size": BATCH, "val_interval": 0,
                      "checkpoint_interval": 0, "log_interval": 1000, "out_dir": out,
                      "tensorboard": False, "device": "cpu", "threads": 2},
        })
        trainer = Trainer(cfg, quiet=True, callbacks=[lambda _t, _s: stamps.append(
            time.perf_counter())])
        trainer.run()
        params = sum(p.numel() for p in trainer.net.parameters())
    seconds = stamps[-1] - stamps[warmup - 1]
    return {"what": f"trainer: {name}", "params": params, "steps": steps,
            "seconds": seconds, "samples_per_s": steps * BATCH / seconds}


def bench_pipeline(*, batches: int, workers: int) -> dict[str, Any]:
    """Samples/s of make_dataset + DataLoader alone (no model), after the first batch."""
    import torch
    from torch.utils.data import DataLoader

    from restorekit.data import make_dataset

    ds = make_dataset("folder", data_root() / "train400", patch_size=PATCH,
                      degradation=f"gaussian:sigma={SIGMA}", color="gray", seed=0,
                      length=BATCH * (batches + 1))
    loader = DataLoader(ds, batch_size=BATCH, shuffle=True, num_workers=workers,
                        generator=torch.Generator().manual_seed(0))
    it = iter(loader)
    next(it)  # decoding/caching and worker start-up are not throughput
    start = time.perf_counter()
    n = 0
    for batch in it:
        n += batch["input"].shape[0]
    seconds = time.perf_counter() - start
    return {"what": f"data pipeline (workers={workers})", "params": 0, "steps": batches,
            "seconds": seconds, "samples_per_s": n / seconds}


def machine() -> str:
    import torch

    cpu = cpu_model()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu}, {os.cpu_count()} logical CPUs, torch.set_num_threads(2); "
            f"Python {platform.python_version()}, torch {torch.__version__}, "
            f"{platform.system()} {platform.release()}; 1-min load average at start {load:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="timed trainer steps per net")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first steps")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    parser.add_argument("--output", type=Path,
                        default=REPO / "docs" / "benchmarks" / "train_throughput.md")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    if not (data_root() / "train400").is_dir():
        print(f"train400 not found under {data_root()} (set RESTOREKIT_DATA)", file=sys.stderr)
        return 2
    from restorekit.errors import UnknownNameError
    from restorekit.restorers.base import get_entry

    started = datetime.now(timezone.utc)
    info = machine()
    rows = [bench_trainer("dncnn", {"depth": 17, "channels": 64}, steps=args.steps,
                          warmup=args.warmup, workers=args.workers)]
    notes: list[str] = []
    try:
        get_entry("rk-unet")
        rows.append(bench_trainer("rk-unet", {}, steps=args.steps * 3, warmup=args.warmup,
                                  workers=args.workers))
    except UnknownNameError:
        notes.append("TODO: rk-unet is not registered yet; rerun this benchmark once it is.")
    fastest = max(r["samples_per_s"] for r in rows)
    pipe = bench_pipeline(batches=max(100, args.steps * 3), workers=args.workers)
    rows.append(pipe)
    ratio = pipe["samples_per_s"] / fastest
    verdict = "PASS" if ratio >= REQUIRED_RATIO else "FAIL"

    lines = ["| measured | parameters | timed batches | seconds | samples/s |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['what']} | {r['params']:,} | {r['steps']} | {r['seconds']:.2f} | "
                     f"{r['samples_per_s']:.1f} |")
    table = "\n".join(lines)
    summary = (f"Pipeline / fastest model consumption: {pipe['samples_per_s']:.1f} / "
               f"{fastest:.1f} = {ratio:.1f}x (required >= {REQUIRED_RATIO:.0f}x): {verdict}")
    command = "python benchmarks/train_throughput.py " + " ".join(
        a for a in (argv if argv is not None else sys.argv[1:]))
    print(table)
    print(summary)
    for note in notes:
        print(note)

    doc = f"""# Training throughput (CPU)

Samples per second of the real training loop (`restorekit.train.Trainer`: data loading,
forward, MSE loss, backward, Adam step) and of the data pipeline alone (`make_dataset` +
`DataLoader`, no model), on Train400 with Gaussian noise sigma {SIGMA}, {PATCH}x{PATCH} gray
patches, batch {BATCH}. DnCNN-17 has 64 channels; `rk-unet` uses its registry defaults.
The first {args.warmup} trainer steps and the first pipeline batch are not timed.

- Command: `{command.strip()}`
- Machine: {info}
- Date: {started.isoformat(timespec="seconds")}

{table}

{summary}
{"".join(f"{chr(10)}{n}" for n in notes)}
The pipeline must deliver at least {REQUIRED_RATIO:.0f}x what the fastest model consumes so
that data loading never limits CPU training; `data.workers` adds worker processes when a
heavier degradation or augmentation needs more.
"""
    args.output.parent.mkdir(parents=True, exist_ok=True)
    from restorekit.atomic import atomic_write_text

    atomic_write_text(args.output, doc)
    print(f"wrote {args.output}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
