"""Classical denoisers on Set12: PSNR, SSIM and seconds per image at sigma 15, 25, 50.

Every classical restorer in the registry (``restorekit.restorers.classical``) denoises the
Set12 gray images with additive white Gaussian noise, sigma on the 0-255 scale, NOT clipped to
[0, 1] (the usual AWGN benchmark convention), seeded per image (seed = image index, so every
method sees the same noise). The true sigma is given to each method. PSNR and SSIM are on the
[0, 1] scale over the whole image (no border crop), against the clean 8-bit image. Runs on one
BLAS/OpenMP thread so the timing is per core.

Prints the table and writes ``docs/benchmarks/classical.md``::

    python benchmarks/classical.py [--sigmas 15,25,50] [--images N] [--methods a,b,...]
                                   [--data DIR] [--out FILE]

Data: ``$RESTOREKIT_DATA/set12`` (default ``../shared/data`` beside the repository).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, before numpy loads its BLAS

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from machine_info import command_line, cpu_model, default_data, run_stamp, write_report  # noqa: E402  (benchmarks/ is on sys.path)

from restorekit.degrade import degrade  # noqa: E402
from restorekit.evaluate.tables import format_table  # noqa: E402
from restorekit.io import read_image  # noqa: E402
from restorekit.metrics import psnr, ssim  # noqa: E402
from restorekit.restorers.base import list_restorers, load_restorer  # noqa: E402

OUT = REPO / "docs" / "benchmarks" / "classical.md"
#: Published Set12 BM3D PSNR (Zhang et al., DnCNN, TIP 2017, Table II), for the check below.
PUBLISHED_BM3D = {15: 32.37, 25: 29.97, 50: 26.72}


def machine() -> str:
    cpu = cpu_model()
    import scipy
    import skimage

    extra = ""
    if importlib.util.find_spec("bm3d") is not None:
        from importlib.metadata import version

        extra = f", bm3d {version('bm3d')}"
    return (f"{cpu}, {os.cpu_count()} logical CPUs (nproc), 1 BLAS thread; Python "
            f"{platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
            f"scikit-image {skimage.__version__}{extra}, {platform.system()} "
            f"{platform.release()}")


def available_methods() -> list[str]:
    """Every registered classical method whose optional dependency is installed."""
    return [e.name for e in list_restorers("classical")
            if e.extra is None or importlib.util.find_spec(e.extra) is not None]


def run(images: list[tuple[str, np.ndarray]], sigmas: list[int],
        methods: list[str]) -> tuple[list[dict[str, Any]], dict[tuple[str, int, str], float]]:
    """Mean PSNR/SSIM/seconds per (method, sigma); also per-image PSNR for the bm3d check."""
    sums: dict[tuple[str, int], list[float]] = {}
    per_image: dict[tuple[str, int, str], float] = {}
    restorers = {m: load_restorer(m) for m in methods}
    warm = np.full((32, 32), 0.5, np.float32) + np.float32(0.05) * np.eye(32, dtype=np.float32)
    for r in restorers.values():  # imports and first-call setup are not timed
        r.restore(warm, sigma=10.0)
    for idx, (name, clean) in enumerate(images):
        for s in sigmas:
            noisy, _ = degrade(clean, f"gaussian:sigma={s}", seed=idx)
            noisy = noisy.astype(np.float32)
            for m in methods:
                start = time.perf_counter()
                out = restorers[m].restore(noisy, sigma=float(s))
                sec = time.perf_counter() - start
                p, q = psnr(out, clean), ssim(out, clean)
                acc = sums.setdefault((m, s), [0.0, 0.0, 0.0, 0.0])
                acc[0] += p
                acc[1] += q
                acc[2] += sec
                acc[3] += 1
                per_image[(m, s, name)] = p
                print(f"  {name} sigma {s:>2} {m:<16} {p:6.2f} dB  SSIM {q:.4f}  {sec:7.2f} s",
                      flush=True)
    rows = []
    for m in methods:
        row: dict[str, Any] = {"method": m}
        for s in sigmas:
            p, q, sec, n = sums[(m, s)]
            row[f"PSNR {s}"] = p / n
            row[f"SSIM {s}"] = q / n
            row[f"s/img {s}"] = sec / n
        rows.append(row)
    return rows, per_image


def markdown(rows: list[dict[str, Any]], per_image: dict[tuple[str, int, str], float],
             images: list[tuple[str, np.ndarray]], sigmas: list[int], command: str,
             total: float, data: Path) -> str:
    psnr_cols = ["method", *[f"PSNR {s}" for s in sigmas]]
    ssim_cols = ["method", *[f"SSIM {s}" for s in sigmas]]
    time_cols = ["method", *[f"s/img {s}" for s in sigmas]]
    shapes = sorted({f"{img.shape[0]}x{img.shape[1]}" for _, img in images})
    lines = [
        "# Classical denoisers on Set12",
        "",
        "Every classical restorer of `restorekit.restorers.classical` (parameters tuned as "
        "functions of sigma, see each class's docstring) on the Set12 gray images with additive "
        "white Gaussian noise. Sigma is on the 0-255 scale and given to every method (not "
        "estimated). The noise is **not clipped** to [0, 1] (the usual AWGN benchmark "
        "convention); it is generated by `degrade(image, 'gaussian:sigma=S', seed=i)` with "
        "`i` the image's index, so every method sees the same noise. PSNR (dB) and SSIM "
        "(Gaussian window, Wang et al. 2004) are on the [0, 1] scale over the whole image, no "
        "border crop, on the clipped output. `identity` is the noisy input clipped to [0, 1].",
        "",
        f"- Command: `{command}`",
        f"- Machine: {machine()}",
        run_stamp(total, "a shared machine: other jobs ran at the same time, so the seconds "
                  "are indicative"),
        f"- Data: {len(images)} Set12 images ({', '.join(shapes)}) from `{data}`",
        "",
        "## Mean PSNR (dB)",
        "",
        format_table(rows, "md", digits=2, columns=psnr_cols),
        "",
        "## Mean SSIM",
        "",
        format_table(rows, "md", digits=4, columns=ssim_cols),
        "",
        "## Seconds per image (one core)",
        "",
        format_table(rows, "md", digits=2, columns=time_cols),
        "",
    ]
    bm3d = next((r for r in rows if r["method"] == "bm3d"), None)
    if bm3d is not None:
        lines += ["## BM3D against the published Set12 figures", "",
                  "Published: Zhang et al., DnCNN (IEEE TIP 2017), Table II, BM3D on Set12 "
                  "(MATLAB BM3D; noise not clipped).", "",
                  "| sigma | ours | published | difference |", "|---|---|---|---|"]
        for s in sigmas:
            if s in PUBLISHED_BM3D:
                ours = bm3d[f"PSNR {s}"]
                lines.append(f"| {s} | {ours:.2f} | {PUBLISHED_BM3D[s]:.2f} | "
                             f"{ours - PUBLISHED_BM3D[s]:+.2f} |")
        lines.append("")
        if len(images) == 12:
            names = [n for n, _ in images]
            header = "| method | sigma | " + " | ".join(names) + " |"
            lines += ["Per image (PSNR, dB), BM3D and low-rank:", "", header,
                      "|" + "---|" * (len(names) + 2)]
            for m in ("bm3d", "low-rank"):
                for s in sigmas:
                    if (m, s, names[0]) in per_image:
                        vals = " | ".join(f"{per_image[(m, s, n)]:.2f}" for n in names)
                        lines.append(f"| {m} | {s} | {vals} |")
            lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sigmas", default="15,25,50", help="noise levels, 0-255 scale")
    parser.add_argument("--images", type=int, default=None, help="first N Set12 images only")
    parser.add_argument("--methods", default=None, help="comma-separated (default: all)")
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    sigmas = [int(s) for s in args.sigmas.split(",") if s.strip()]
    methods = args.methods.split(",") if args.methods else available_methods()
    folder = args.data / "set12"
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")[: args.images]
    if not files:
        print(f"no Set12 images under {folder} (set RESTOREKIT_DATA)", file=sys.stderr)
        return 2
    images = [(p.stem, read_image(p)[0]) for p in files]
    start = time.perf_counter()
    rows, per_image = run(images, sigmas, methods)
    total = time.perf_counter() - start
    print()
    print(format_table(rows, "table", digits=3))
    text = markdown(rows, per_image, images, sigmas, command_line("classical.py", argv), total,
                    folder)
    write_report(args.out, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
