"""Peak memory and time of tiled network inference on large RGB images (1 to 24 megapixels).

A DnCNN-sized net (the registered ``dncnn``: 17 conv layers, 64 maps, here with 3 input and
output channels; random weights, which cost the same as trained ones) restores synthetic RGB
images of 1, 4, 16 and 24 megapixels (3:2 aspect; 24 MP is 6000x4000) through
``NetworkRestorer`` with its default memory budget (1024 MiB) and tile overlap (32), on the CPU.

Memory method: each case runs in a fresh Python subprocess and reports its peak resident set
size, ``resource.getrusage(RUSAGE_SELF).ru_maxrss``. PyTorch's CPU tensors are allocated by its
own C++ allocator (malloc/posix_memalign), which ``tracemalloc`` cannot see, and its peak-memory
counters exist only for CUDA; the kernel's high-water mark of resident pages counts everything
the process really touched (interpreter, libraries, numpy arrays, torch tensors, oneDNN
scratch). It never decreases, hence one process per case. The table gives the peak for the
whole process (what a user's machine must have) and the part added by ``restore`` (peak minus
the RSS after the libraries, the net and the input image were loaded).

Prints a table and writes ``docs/benchmarks/tiling_memory.md``::

    python benchmarks/tiling_memory.py [--megapixels 1,4,16,24] [--budget-mb 1024]
                                       [--threads N] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from machine_info import command_line, cpu_model, run_stamp, write_report  # noqa: E402  (benchmarks/ is on sys.path)

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "benchmarks" / "tiling_memory.md"
LIMIT_GB = 3.0


def size_for(megapixels: float) -> tuple[int, int]:
    """(height, width) of a 3:2 image with about ``megapixels`` million pixels."""
    w = round(math.sqrt(megapixels * 1e6 * 1.5))
    return round(w / 1.5), w


def synthetic_rgb(h: int, w: int) -> Any:
    """A smooth colour image plus noise, float32 HxWx3, built in row blocks (no big temporaries)."""
    import numpy as np

    img = np.empty((h, w, 3), np.float32)
    rng = np.random.default_rng(0)
    x = np.arange(w, dtype=np.float32)
    for r0 in range(0, h, 256):
        y = np.arange(r0, min(h, r0 + 256), dtype=np.float32)[:, None]
        for c in range(3):
            block = 0.5 + 0.3 * np.sin(x / (40 + 7 * c)) * np.cos(y / (55 - 5 * c))
            img[r0:r0 + len(y), :, c] = block + rng.normal(0, 25 / 255, block.shape)
    return img


def child(megapixels: float, budget_mb: float, tile: int | None, threads: int,
          model: str = "dncnn") -> dict[str, Any]:
    """One case, in this (fresh) process: restore and report time and peak RSS.

    ``model`` is ``dncnn`` (random DnCNN-17, 3 channels) or a shipped zoo model name.
    """
    import resource
    import warnings

    import torch

    sys.path.insert(0, str(REPO))
    from restorekit.restorers.base import build_net
    from restorekit.restorers.network import NetworkRestorer
    from restorekit.restorers.tiling import tile_work

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    h, w = size_for(megapixels)
    img = synthetic_rgb(h, w)
    if model == "dncnn":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net = build_net("dncnn", in_channels=3, out_channels=3, depth=17, channels=64)
        r = NetworkRestorer(net, name="dncnn", device="cpu", memory_budget_mb=budget_mb,
                            tile=tile)
    else:
        from restorekit.zoo import load_zoo_restorer

        r = load_zoo_restorer(model, device="cpu", memory_budget_mb=budget_mb, tile=tile)
    bpp = r.bytes_per_pixel()
    r.restore(img[:64, :64], sigma=25.0)  # warm up oneDNN outside the timing
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    out = r.restore(img, sigma=25.0)  # a given sigma (ignored by nets without a noise input)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t = r.last_tile
    work = 1.0 if t is None else tile_work(h, w, t, r.tile_overlap, r.multiple) / (h * w)
    tiles = 1 if t is None else round(work * h * w / (min(t, h) * min(t, w)))
    assert out.shape == img.shape
    return {"megapixels": h * w / 1e6, "size": f"{w}x{h}", "tile": t or "whole", "tiles": tiles,
            "work x": work,
            "seconds": seconds, "s/MP": seconds / (h * w / 1e6), "peak RSS GB": peak / 1e9,
            "restore adds GB": (peak - before) / 1e9, "before GB": before / 1e9,
            "est. tile GB": bpp * (t * t if t else h * w) / 1e9,
            "bytes/px": bpp}


def run_case(megapixels: float, budget_mb: float, tile: int | None, threads: int,
             model: str = "dncnn") -> dict:
    cmd = [sys.executable, __file__, "--child", str(megapixels), "--budget-mb", str(budget_mb),
           "--threads", str(threads), "--model", model]
    if tile is not None:
        cmd += ["--tile", str(tile)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"case {megapixels} MP failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def machine(threads: int) -> str:
    cpu = cpu_model()
    import torch

    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f", {int(line.split()[1]) / 2**20:.0f} GiB RAM"
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} logical CPUs (nproc){mem}; torch {torch.__version__} "
            f"with {threads} intra-op threads; Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", default="1,4,16,24")
    parser.add_argument("--budget-mb", type=float, default=1024.0)
    parser.add_argument("--tile", type=int, default=None, help="fixed tile (default: budget)")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--model", default="dncnn", help=argparse.SUPPRESS)
    parser.add_argument("--child", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args.child, args.budget_mb, args.tile, args.threads, args.model)))
        return 0

    sys.path.insert(0, str(REPO))
    from restorekit.evaluate.tables import format_table

    start = time.perf_counter()
    rows = []
    for mp in (float(m) for m in args.megapixels.split(",") if m.strip()):
        row = run_case(mp, args.budget_mb, args.tile, args.threads)
        print(f"  {row['size']}: tile {row['tile']} x{row['tiles']}, {row['seconds']:.1f} s, "
              f"peak RSS {row['peak RSS GB']:.2f} GB", flush=True)
        rows.append(row)
    total = time.perf_counter() - start
    cols = ["size", "megapixels", "tile", "tiles", "work x", "seconds", "s/MP", "peak RSS GB",
            "before GB", "restore adds GB", "est. tile GB"]
    print()
    print(format_table(rows, "table", digits=2, columns=cols))
    largest = max(rows, key=lambda r: r["megapixels"])
    ok = largest["peak RSS GB"] < LIMIT_GB
    per_mp = [r["s/MP"] for r in rows]
    text = "\n".join([
        "# Tiled inference: peak memory and time",
        "",
        "A DnCNN-sized net (registered `dncnn`, 17 conv layers with 64 maps, 3 input/output "
        "channels, random weights: the cost does not depend on the weights) restores synthetic "
        "RGB images (float32, 3:2 aspect) through `NetworkRestorer` on the CPU with the default "
        f"memory budget ({args.budget_mb:g} MiB) and overlap (32). The budget picks the tile: "
        "`activation_bytes_per_pixel` measures the net once on a 64x64 input "
        f"({rows[0]['bytes/px']:.0f} bytes per pixel: the peak of tensors alive at once, two "
        "64-channel float32 maps, times 1.25, plus the largest tensor and the input); an image "
        "that fits the budget runs whole (`tile` = whole), otherwise `choose_tile` takes the "
        "largest square tile that fits, shrunk to the size that needs the least work for "
        "that image (`work x` = pixels processed / image pixels, the overlap's cost).",
        "",
        "Memory is measured as the peak resident set size (`ru_maxrss`) of a fresh subprocess "
        "per case. PyTorch's CPU allocator is invisible to `tracemalloc` and has no peak "
        "counter (those exist for CUDA only), while the kernel's high-water mark counts every "
        "page the process touched. `before` is the RSS once the interpreter, torch, the net "
        "and the input image (4 bytes x 3 channels per pixel) are loaded; `restore adds` is "
        "the peak minus that: the float32 output accumulator and the returned HxWx3 array "
        "(4 bytes x 3 channels per pixel each) plus one tile's activations (`est. tile` is "
        "the estimate the budget used).",
        "",
        f"- Command: `{command_line('tiling_memory.py', argv)}`",
        f"- Machine: {machine(args.threads)}",
        run_stamp(total, "a shared machine: other jobs ran at the same time, so the seconds "
                  "are indicative"),
        "",
        format_table(rows, "md", digits=2, columns=cols),
        "",
        f"Requirement: peak memory for {largest['size']} ({largest['megapixels']:.0f} MP) under "
        f"{LIMIT_GB:g} GB: {largest['peak RSS GB']:.2f} GB, **{'PASS' if ok else 'FAIL'}**.",
        "",
        f"Time per megapixel ranges from {min(per_mp):.1f} to {max(per_mp):.1f} s across "
        f"sizes ({max(per_mp) / min(per_mp):.2f}x): time grows linearly with the pixel count, "
        "since the tile count grows with the area and the overlap adds the few per cent shown "
        "in `work x` (the load from other jobs on this shared machine adds noise).",
        "",
    ])
    write_report(args.out, text)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
