"""JPEG quality from pixels: how often `estimate_quality` is right, when it abstains, how fast.

``restorekit.jpeg_quality.estimate_quality`` reads the quality a JPEG was saved at from its
decoded pixels (the 8x8 DCT coefficients sit on multiples of the quantization steps), so
`restore --task jpeg` can pick the deblocker made for that quality when an image has no tables
left (a PNG that was a JPEG once). This benchmark round-trips every image of Classic5, Set12 and
Urban100 (colour, 4:2:0) through Pillow's encoder at each quality and counts estimates within
one quality step, wrong ones and abstentions (None); then the images that carry no JPEG history
on their grid (never compressed, cropped off the grid, resized, noised after compression), where
the estimator should abstain; then the time on a large photo.

Prints the tables and writes ``docs/benchmarks/jpeg_quality_estimation.md``::

    python benchmarks/jpeg_quality_estimation.py [--qualities 5,10,20,30,40,50,60,75,90]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from machine_info import REPO, cpu_model, default_data, write_report  # benchmarks/ is on sys.path

OUT = REPO / "docs" / "benchmarks" / "jpeg_quality_estimation.md"
SETS = ("classic5", "set12", "urban100_sub10")


def _images(folder: Path) -> list[np.ndarray]:
    from restorekit.data.folders import list_images
    from restorekit.io import read_image

    return [read_image(path)[0] for path in list_images(folder)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qualities", default="5,10,20,30,40,50,60,75,90")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    from restorekit.degrade.jpeg import jpeg_roundtrip
    from restorekit.degrade.resample import upscale
    from restorekit.evaluate.tables import format_table
    from restorekit.jpeg_quality import estimate_quality

    sets = {name: _images(default_data() / name) for name in SETS
            if (default_data() / name).is_dir()}
    if not sets:
        print(f"no dataset under {default_data()} (set RESTOREKIT_DATA)", file=sys.stderr)
        return 1
    qualities = [int(q) for q in args.qualities.split(",")]
    rows = []
    for name, images in sets.items():
        for quality in qualities:
            found = [estimate_quality(jpeg_roundtrip(image, quality)) for image in images]
            right = sum(f is not None and abs(f.quality - quality) <= 1 for f in found)
            none = sum(f is None for f in found)
            rows.append({"set": name, "quality": quality, "images": len(images),
                         "within 1": right, "wrong": len(images) - right - none,
                         "none": none})
    rng = np.random.default_rng(0)
    cases = {
        "never compressed": lambda im: im,
        "q20, cropped 3 px off the grid": lambda im: jpeg_roundtrip(im, 20)[3:, 3:],
        "q20, enlarged x2 (bicubic)": lambda im: np.clip(
            upscale(jpeg_roundtrip(im, 20), 2, "bicubic"), 0, 1),
        "q20, then noise sigma 3": lambda im: jpeg_roundtrip(im, 20) + rng.normal(
            0, 3 / 255, im.shape).astype(np.float32),
    }
    abstain = []
    for label, make in cases.items():
        found = [estimate_quality(make(image)) for images in sets.values() for image in images]
        abstain.append({"image": label, "images": len(found),
                        "none": sum(f is None for f in found),
                        "an estimate": ", ".join(sorted({str(f.quality) for f in found if f}))
                        or "-"})
    first = next(iter(sets.values()))[0]
    big = jpeg_roundtrip(np.tile(first if first.ndim == 3 else first[..., None].repeat(3, -1),
                                 (8, 8, 1))[:4000, :6000], 20)
    start = time.perf_counter()
    found = estimate_quality(big)
    seconds = time.perf_counter() - start
    tables = [format_table(rows, "md"), format_table(abstain, "md")]
    print(*tables, sep="\n\n")
    print(f"{big.shape[1]}x{big.shape[0]} q20 image: {found}, {seconds:.2f} s")
    text = "\n".join([
        "# JPEG quality estimated from pixels", "",
        __doc__.split("\n\n")[1].strip(), "",
        f"- Regenerate: `python benchmarks/jpeg_quality_estimation.py --qualities "
        f"{args.qualities}`",
        f"- Machine: {cpu_model()}; written "
        f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}.",
        f"- A {big.shape[1]}x{big.shape[0]} RGB image (the first image tiled) at quality 20: "
        f"{found.quality if found else None} in {seconds:.2f} s (a centre crop of at most "
        "1024x1024 is read).", "",
        "## Decoded JPEGs", "", tables[0], "",
        "## Images with no JPEG history on their grid (the estimator should abstain)", "",
        tables[1], ""])
    write_report(args.out, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
