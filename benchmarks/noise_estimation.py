"""Noise estimation accuracy: single-image sigma on Set12, and NLF fits on real and synthetic noise.

Measures, on one BLAS thread:

1. ``restorekit.noise_estimation.estimate_sigma`` (weak-texture patch PCA, Liu et al. 2013)
   against ``skimage.restoration.estimate_sigma`` (wavelet MAD, Donoho & Johnstone) and the
   patch-PCA method of Chen, Zhu & Heng (ICCV 2015, re-implemented here as a baseline), on the
   12 Set12 images with white Gaussian noise sigma 5, 10, 15, 25, 35, 50 (0-255 scale, not
   clipped): mean estimate, mean relative error (signed) and mean absolute relative error,
   seconds per image; then ours on the same noise clipped to [0, 1].
2. ``fit_nlf_pair`` and ``fit_nlf_single`` (sigma^2(y) = b1*y + b2, y and variance in [0, 1]
   units) on real noisy/mean pairs of ``polyu_real_cropped`` and ``cc15_nam``, beside the
   residual std and ``estimate_sigma``.
3. Both NLF fits on Set12 with synthetic ``nlf`` noise (clipped to [0, 1], as the degradation
   does): mean fitted (b1, b2) and the mean absolute relative error of sigma(y), y = 0.1..0.9.

Prints the tables and writes ``docs/benchmarks/noise_estimation.md``::

    python benchmarks/noise_estimation.py [--data DIR] [--quick]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, before numpy loads its BLAS

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from machine_info import cpu_model, write_report  # noqa: E402  (benchmarks/ is on sys.path)

from restorekit.evaluate.tables import format_table  # noqa: E402
from restorekit.io import read_image  # noqa: E402
from restorekit.noise_estimation import (  # noqa: E402
    estimate_sigma,
    fit_nlf_pair,
    fit_nlf_single,
)

LEVELS = (5, 10, 15, 25, 35, 50)
NLF_PARAMS = ((0.01, 0.0004), (0.004, 0.0001), (0.0, 0.0016), (0.02, 0.0), (0.0005, 0.00002))
YS = np.linspace(0.1, 0.9, 9)
OUT = REPO / "docs" / "benchmarks" / "noise_estimation.md"


def default_data() -> Path:
    env = os.environ.get("RESTOREKIT_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def chen_sigma(img: np.ndarray, patch: int = 8, stride: int = 3) -> float:
    """Chen, Zhu & Heng (ICCV 2015): the mean of the smallest patch-covariance eigenvalues whose
    mean equals their median; 0-255 scale. Baseline only (gray images)."""
    from numpy.lib.stride_tricks import sliding_window_view

    x = sliding_window_view(img.astype(np.float64), (patch, patch))[::stride, ::stride]
    x = x.reshape(-1, patch * patch)
    x = x - x.mean(axis=0)
    lam = np.sort(np.linalg.eigvalsh(x.T @ x / len(x)))
    tau = float(lam.mean())
    for m in range(len(lam), 0, -1):
        tau = float(lam[:m].mean())
        if np.sum(lam[:m] > tau) == np.sum(lam[:m] < tau):
            break
    return 255.0 * float(np.sqrt(max(tau, 0.0)))


def skimage_sigma(img: np.ndarray) -> float:
    from skimage.restoration import estimate_sigma as sk_estimate_sigma

    return 255.0 * float(sk_estimate_sigma(img))


def gray_images(folder: Path, limit: int | None) -> list[tuple[str, np.ndarray]]:
    files = sorted(folder.glob("*.png"))[:limit]
    if not files:
        raise SystemExit(f"no PNG images in {folder} (use --data DIR or set RESTOREKIT_DATA)")
    out = []
    for f in files:
        img, _ = read_image(f)
        out.append((f.name, img if img.ndim == 2 else img.mean(axis=2)))
    return out


def bench_sigma(
    images: list[tuple[str, np.ndarray]], levels: tuple[int, ...], seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Set12 table (three estimators) and the clipped-noise table (ours)."""
    methods: dict[str, Callable[[np.ndarray], float]] = {
        "ours": estimate_sigma,
        "skimage": skimage_sigma,
        "chen2015": chen_sigma,
    }
    est = {m: np.zeros((len(images), len(levels))) for m in methods}
    secs = {m: [] for m in methods}
    clipped = np.zeros((len(images), len(levels)))
    rng = np.random.default_rng(seed)
    for i, (_, img) in enumerate(images):
        for j, s in enumerate(levels):
            noise = rng.standard_normal(img.shape) * s / 255.0
            noisy = (img + noise).astype(np.float32)
            for m, func in methods.items():
                start = time.perf_counter()
                est[m][i, j] = func(noisy)
                secs[m].append(time.perf_counter() - start)
            clipped[i, j] = estimate_sigma(np.clip(noisy, 0, 1))
    truth = np.array(levels, dtype=np.float64)
    rows = []
    for j, s in enumerate(levels):
        row: dict[str, Any] = {"sigma": s}
        for m in methods:
            rel = est[m][:, j] / s - 1
            row[f"{m} mean"] = float(est[m][:, j].mean())
            row[f"{m} bias %"] = 100 * float(rel.mean())
            row[f"{m} abs err %"] = 100 * float(np.abs(rel).mean())
        rows.append(row)
    total: dict[str, Any] = {"sigma": "all"}
    for m in methods:
        rel = est[m] / truth - 1
        total[f"{m} mean"] = None
        total[f"{m} bias %"] = 100 * float(rel.mean())
        total[f"{m} abs err %"] = 100 * float(np.abs(rel).mean())
    rows.append(total)
    sizes = [img.shape for _, img in images for _ in levels]
    for size in sorted(set(sizes)):
        time_row: dict[str, Any] = {"sigma": f"s/image {size[0]}x{size[1]}"}
        for m in methods:
            time_row[f"{m} mean"] = float(np.mean([t for t, z in zip(secs[m], sizes,
                                                                    strict=True) if z == size]))
        rows.append(time_row)
    clip_rows = []
    for j, s in enumerate(levels):
        rel = clipped[:, j] / s - 1
        clip_rows.append({"sigma": s, "ours mean": float(clipped[:, j].mean()),
                          "bias %": 100 * float(rel.mean()),
                          "abs err %": 100 * float(np.abs(rel).mean())})
    rel = clipped / truth - 1
    clip_rows.append({"sigma": "all", "ours mean": None, "bias %": 100 * float(rel.mean()),
                      "abs err %": 100 * float(np.abs(rel).mean())})
    return rows, clip_rows


def real_pairs(data: Path, per_set: int) -> list[dict[str, Any]]:
    rows = []
    for folder in ("polyu_real_cropped", "cc15_nam"):
        noisy_files = sorted(p for p in (data / folder).glob("*_real.*"))
        if not noisy_files:
            print(f"(skipping {folder}: not found under {data})")
            continue
        step = max(1, len(noisy_files) // per_set)
        for f in noisy_files[::step][:per_set]:
            mean_file = f.with_name(f.name.replace("_real.", "_mean."))
            noisy, _ = read_image(f)
            clean, _ = read_image(mean_file)
            start = time.perf_counter()
            pair = fit_nlf_pair(noisy, clean)
            t_pair = time.perf_counter() - start
            start = time.perf_counter()
            single = fit_nlf_single(noisy)
            t_single = time.perf_counter() - start
            rows.append({
                "set": folder.split("_")[0], "image": f.stem.replace("_real", ""),
                "pair b1": pair.b1, "pair b2": pair.b2, "pair sd(0.5)": pair.sigma_255(0.5),
                "single b1": single.b1, "single b2": single.b2,
                "single sd(0.5)": single.sigma_255(0.5),
                "resid sd": 255 * float(np.std(noisy.astype(np.float64) - clean)),
                "estimate_sigma": estimate_sigma(noisy),
                "s pair": t_pair, "s single": t_single,
            })
    return rows


def synthetic_nlf(images: list[tuple[str, np.ndarray]], seed: int) -> list[dict[str, Any]]:
    rows = []
    for b1, b2 in NLF_PARAMS:
        rng = np.random.default_rng(seed)
        fits: dict[str, list[tuple[float, float, float]]] = {"pair": [], "single": []}
        for _, img in images:
            clean = img.astype(np.float64)
            noisy = np.clip(clean + np.sqrt(b1 * clean + b2) * rng.standard_normal(clean.shape),
                            0, 1)
            true = np.sqrt(b1 * YS + b2)
            for name, fit in (("pair", fit_nlf_pair(noisy, clean)),
                              ("single", fit_nlf_single(noisy))):
                err = float(np.mean(np.abs(fit.sigma(YS) / true - 1)))
                fits[name].append((fit.b1, fit.b2, err))
        row: dict[str, Any] = {"true b1": b1, "true b2": b2}
        for name, vals in fits.items():
            arr = np.array(vals)
            row[f"{name} b1"] = float(arr[:, 0].mean())
            row[f"{name} b2"] = float(arr[:, 1].mean())
            row[f"{name} sd(y) abs err %"] = 100 * float(arr[:, 2].mean())
        rows.append(row)
    return rows


def machine() -> str:
    cpu = cpu_model()
    import scipy
    import skimage

    return (f"{cpu}, {os.cpu_count()} logical CPUs, 1 BLAS thread; Python "
            f"{platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
            f"scikit-image {skimage.__version__}, {platform.system()} {platform.release()}")


def fmt_sci(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Format the (tiny) b1/b2 values in scientific notation for the tables."""
    return [{k: (f"{v:.3g}" if k in keys and isinstance(v, float) else v) for k, v in r.items()}
            for r in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data(),
                        help="dataset root with set12/, polyu_real_cropped/, cc15_nam/")
    parser.add_argument("--quick", action="store_true",
                        help="4 Set12 images, 2 real pairs per set (a smoke run)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    images = gray_images(args.data / "set12", 4 if args.quick else None)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    sigma_rows, clip_rows = bench_sigma(images, LEVELS, args.seed)
    pair_rows = real_pairs(args.data, 2 if args.quick else 5)
    synth_rows = synthetic_nlf(images, args.seed)
    elapsed = time.perf_counter() - t0

    sci = ("pair b1", "pair b2", "single b1", "single b2", "true b1", "true b2")
    pair_rows, synth_rows = fmt_sci(pair_rows, sci), fmt_sci(synth_rows, sci)
    cols_sigma = ["sigma"] + [f"{m} {k}" for m in ("ours", "skimage", "chen2015")
                              for k in ("mean", "bias %", "abs err %")]
    for title, rows, cols, digits in (
        ("Set12, AWGN (not clipped)", sigma_rows, cols_sigma, 3),
        ("Set12, AWGN clipped to [0, 1] (ours)", clip_rows, None, 3),
        ("Real pairs: NLF fits (joint over RGB)", pair_rows, None, 3),
        ("Set12, synthetic nlf noise (clipped)", synth_rows, None, 3),
    ):
        print(f"\n{title}\n" + format_table(rows, "table", digits=digits, columns=cols))

    command = "python benchmarks/noise_estimation.py" + (" --quick" if args.quick else "")
    if args.data != default_data():
        command += f" --data {args.data}"
    overall = next(r for r in sigma_rows if r["sigma"] == "all")
    ours = overall["ours abs err %"]
    requirement = (
        "Requirement: mean absolute relative error over images and levels < 10 %. "
        f"Ours: {ours:.2f} % ({'PASS' if ours < 10 else 'FAIL'}); skimage "
        f"{overall['skimage abs err %']:.2f} %; chen2015 {overall['chen2015 abs err %']:.2f} %."
    )
    print(f"\n{requirement}")
    text = f"""# Noise estimation

Accuracy of `restorekit.noise_estimation` (see its module docstring for the methods and
conventions). Every sigma is on the 0-255 scale; NLF parameters (b1, b2) use intensities and
variances in [0, 1] units (`sigma^2(y) = b1*y + b2`); `sd(y)` columns give `sqrt(b1*y + b2)` on
the 0-255 scale.

- Command: `{command}`
- Machine: {machine()}
- Date: {started}; total {elapsed:.0f} s
- Data: {len(images)} Set12 images from `{args.data / 'set12'}`; seed {args.seed}

## Single sigma on Set12, white Gaussian noise (not clipped)

`ours` = `estimate_sigma` (weak-texture patch PCA, Liu, Tanaka & Okutomi, IEEE TIP 2013, with a
Marchenko-Pastur finite-sample correction); `skimage` = `skimage.restoration.estimate_sigma`
(wavelet MAD, Donoho & Johnstone 1994); `chen2015` = Chen, Zhu & Heng, ICCV 2015 (8x8 patches,
stride 3; re-implemented in this script). `bias %` is the mean signed relative error and
`abs err %` the mean absolute relative error over the images; the `s/image` rows give seconds
per call (in the `mean` columns) by image size.

{requirement}

The clean Set12 images carry some noise of their own (`estimate_sigma` gives about 0.4-2.0 on
them), which shows up as a positive bias at sigma 5.

{format_table(sigma_rows, "md", digits=3, columns=cols_sigma)}

## The same noise clipped to [0, 1]

Patches touching 0 or 1 are skipped; the remaining bias comes from dark and bright regions
whose noise is partly clipped without reaching the limits.

{format_table(clip_rows, "md", digits=3)}

## Real noisy/clean pairs: NLF fits

`pair` = `fit_nlf_pair(noisy, mean)`, `single` = `fit_nlf_single(noisy)` (joint fits over the
RGB channels); `resid sd` = std of `noisy - mean` (0-255); `estimate_sigma` of the noisy image.
Real camera noise is spatially correlated (demosaicking, in-camera processing; PolyU is also
JPEG-compressed), so its high-frequency part, which the single-image estimators measure, is much
smaller than its pixel std: treat single-image numbers on such photos as the white part of the
noise only.

{format_table(pair_rows, "md", digits=3)}

## Synthetic nlf noise on Set12

Noise `clip(y + sqrt(b1*y + b2) N(0, 1), 0, 1)` on each Set12 image (as the `nlf` degradation
makes it); fitted (b1, b2) averaged over the images, and the mean absolute relative error of the
fitted sd(y) over y = 0.1, 0.2, ..., 0.9. The single-image fit is biased slightly high by residual
texture and by the images' own noise (most visible at the lowest level, sd about 4 at y = 0.5).

{format_table(synth_rows, "md", digits=3)}
"""
    write_report(args.out, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
