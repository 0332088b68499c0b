"""Speed of the default gray denoiser against DnCNN-17 and BM3D, side by side in one run.

Part 1, Set12 (twelve 256x256 / 512x512 gray images, sigma 25, noise seeded by image index and not
clipped, as in ``benchmarks/classical.py``): seconds per image and megapixels per second of

- the default gray denoiser (the shipped zoo model ``restorekit restore`` picks; sigma given),
- DnCNN-17 (our ``dncnn``, 64 maps; random weights, which cost exactly what trained ones do, so
  its PSNR is not reported),
- BM3D (the ``bm3d`` package, sigma given),

each image restored ``--repeats`` times after one warm-up, the median kept. PSNR is reported
for the two methods with meaningful weights.

Part 2, large colour photos: the default colour denoiser (the model ``restorekit restore`` picks
for an RGB photo) on synthetic RGB images of 1, 4, 16 and 24 megapixels, each in a fresh
subprocess (peak RSS), through ``benchmarks/tiling_memory.py``.

Prints tables and writes ``docs/benchmarks/denoise_speed.md``::

    python benchmarks/denoise_speed.py [--repeats 3] [--megapixels 1,4,16,24] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from machine_info import command_line, default_data, run_stamp  # noqa: E402  (benchmarks/ is on sys.path)
from tiling_memory import machine, run_case  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "benchmarks" / "denoise_speed.md"
SIGMA = 25.0
GOALS = {"DnCNN-17": 4.0, "BM3D": 20.0}  # the default must be this many times faster


def _timed(fn: Any, repeats: int) -> float:
    fn()  # warm-up (oneDNN primitive creation, BM3D's first call)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def set12_rows(data: Path, repeats: int) -> tuple[list[dict[str, Any]], str]:
    """Per-method mean seconds/image, MP/s and PSNR on Set12 at sigma 25."""
    import numpy as np

    sys.path.insert(0, str(REPO))
    from restorekit.api import make_restorer, resolve_method
    from restorekit.degrade import degrade
    from restorekit.evaluate.benchmark import dataset_files
    from restorekit.io import read_image
    from restorekit.metrics import psnr
    from restorekit.restorers.base import build_net
    from restorekit.restorers.network import NetworkRestorer

    default = resolve_method("auto", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dncnn = NetworkRestorer(build_net("dncnn", depth=17, channels=64), name="dncnn",
                                device="cpu", tile=0)
    methods = {f"default ({default})": make_restorer(default, device="cpu", tile=0),
               "DnCNN-17": dncnn, "BM3D": make_restorer("bm3d")}
    stats: dict[str, dict[str, list[float]]] = {m: {"s": [], "mp": [], "psnr": []}
                                                for m in methods}
    for idx, path in enumerate(dataset_files(data / "set12")):
        clean, _ = read_image(path)
        noisy, _ = degrade(clean, f"gaussian:sigma={SIGMA:g}", seed=idx)
        noisy = np.asarray(noisy, dtype=np.float32)
        for name, restorer in methods.items():
            seconds = _timed(lambda r=restorer, x=noisy: r.restore(x, sigma=SIGMA), repeats)
            out = restorer.restore(noisy, sigma=SIGMA)
            stats[name]["s"].append(seconds)
            stats[name]["mp"].append(clean.size / 1e6 / seconds)
            stats[name]["psnr"].append(psnr(np.clip(out, 0, 1), clean))
        print(f"  {path.name}: " + ", ".join(f"{n.split()[0]} {s['s'][-1]:.3f}s"
                                             for n, s in stats.items()), flush=True)
    rows = []
    base = statistics.fmean(stats[next(iter(methods))]["s"])
    for name, s in stats.items():
        mean_s = statistics.fmean(s["s"])
        rows.append({"method": name, "s/image": mean_s,
                     "MP/s": sum(s["mp"]) / len(s["mp"]),
                     "PSNR sigma 25": "-" if name == "DnCNN-17" else statistics.fmean(s["psnr"]),
                     "default is x faster": mean_s / base})
    return rows, default


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--megapixels", default="1,4,16,24")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--budget-mb", type=float, default=1024.0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(REPO))
    from restorekit.evaluate.tables import format_table

    data = default_data()
    if not (data / "set12").is_dir():
        print(f"set12 not found under {data} (set RESTOREKIT_DATA)", file=sys.stderr)
        return 2
    start = time.perf_counter()
    print("Set12, sigma 25:")
    rows, default = set12_rows(data, args.repeats)
    print(format_table(rows, "table", digits=3))
    from restorekit.api import resolve_method

    colour = resolve_method("auto", 3)
    print(f"Large colour photos ({colour}):")
    big = []
    for mp in (float(m) for m in args.megapixels.split(",") if m.strip()):
        row = run_case(mp, args.budget_mb, None, args.threads, model=colour)
        print(f"  {row['size']}: {row['seconds']:.1f} s, peak RSS {row['peak RSS GB']:.2f} GB",
              flush=True)
        big.append(row)
    total = time.perf_counter() - start
    big_cols = ["size", "megapixels", "tile", "tiles", "seconds", "s/MP", "peak RSS GB"]
    print(format_table(big, "table", digits=2, columns=big_cols))

    verdicts = []
    for name, goal in GOALS.items():
        ratio = next(r["default is x faster"] for r in rows if r["method"] == name)
        verdicts.append(f"- {goal:g}x faster than {name}: measured {ratio:.1f}x, "
                        f"**{'PASS' if ratio >= goal else 'FAIL'}**")
    largest = max(big, key=lambda r: r["megapixels"])
    verdicts.append(f"- {largest['size']} colour photo under 3 GB peak: "
                    f"{largest['peak RSS GB']:.2f} GB, "
                    f"**{'PASS' if largest['peak RSS GB'] < 3 else 'FAIL'}**")
    per_mp = [r["s/MP"] for r in big]
    verdicts.append(f"- time per megapixel from {min(per_mp):.2f} to {max(per_mp):.2f} s across "
                    f"{big[0]['megapixels']:.0f}-{largest['megapixels']:.0f} MP (linear growth "
                    "means a constant s/MP)")
    text = "\n".join([
        "# Denoising speed: the default gray denoiser vs DnCNN-17 vs BM3D",
        "",
        __doc__.split("\n\n", 1)[1].split("Prints tables")[0].strip(),
        "",
        f"- Command: `{command_line('denoise_speed.py', argv)}`",
        f"- Machine: {machine(args.threads)}",
        run_stamp(total, "when other jobs share the machine, absolute seconds are inflated; "
                  "the ratios are measured side by side, image by image"),
        "",
        "## Set12, sigma 25",
        "",
        format_table(rows, "md", digits=3),
        "",
        f"## Large colour photos (default colour denoiser {colour}, fresh process per size)",
        "",
        format_table(big, "md", digits=2, columns=big_cols),
        "",
        "## Goals",
        "",
        *verdicts,
        "",
    ])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print("\n".join(verdicts))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
