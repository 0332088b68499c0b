"""Can the colour net help CBM3D past itself? The net's output as the pilot of CBM3D's Wiener stage.

The colour must-beat row of the zoo issue (Urban100, unclipped AWGN sigma 25: CBM3D 31.43 dB,
`rk-unet-rgb-blind` 30.52) is not met. Urban100's long repeated structures suit block matching,
so this benchmark tries the cheapest hybrid: BM3D's second (Wiener) stage, which needs a pilot
estimate of the clean image, run with the net's output as the pilot instead of BM3D's own
hard-thresholding stage (block matching on the pilot's luminance, filtering in the opponent
colour space, as ``bm3d.bm3d_rgb`` does). It costs the net plus half of CBM3D.

Every method is told the true sigma. Noise and images are those of ``zoo_quality.py``
(``evaluate_model``: seeded per image, not clipped), so its CBM3D row (read from its JSON cache)
is comparable. Prints a table and writes ``docs/benchmarks/cbm3d_pilot.md``::

    python benchmarks/cbm3d_pilot.py [--sigmas 25] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from machine_info import REPO, cpu_model, default_data, write_report  # benchmarks/ is on sys.path
from zoo_quality import CACHE, Case

from restorekit.restorers.base import Restorer

OUT = REPO / "docs" / "benchmarks" / "cbm3d_pilot.md"
DATASET = "urban100_sub10"


class NetPilotWiener(Restorer):
    """CBM3D's Wiener stage with a colour net's output as its pilot (Dabov et al. 2007, Sec. 3)."""

    name = "wiener(net pilot)"
    uses_sigma = True

    def __init__(self, net: Restorer) -> None:
        self.net = net

    def restore(self, image: np.ndarray, sigma: float | None = None) -> np.ndarray:
        import bm3d

        assert sigma is not None
        pilot = np.asarray(self.net.restore(image, sigma=sigma), dtype=np.float64)
        noisy = np.asarray(image, dtype=np.float64)
        z, imax, imin, scale, a = bm3d.rgb_to(noisy, "opp")
        # the pilot goes through the same colour transform and normalisation as the noisy image
        p = ((pilot.reshape(-1, 3) @ a.T).reshape(pilot.shape) - imin) / (imax - imin)
        sig = (sigma / 255.0 * np.sqrt(scale)).ravel()
        y0, (_, matches) = bm3d.bm3d(z[..., 0], sig[0], "np", stage_arg=p[..., 0],
                                     blockmatches=(False, True))
        out = [y0] + [bm3d.bm3d(z[..., c], sig[c], "np", stage_arg=p[..., c],
                                blockmatches=(False, matches)) for c in (1, 2)]
        rgb, *_ = bm3d.rgb_to(np.stack(out, -1), "opp", True, imax, imin)
        return np.clip(rgb, 0.0, 1.0).astype(np.float32)


def _cbm3d_row(sigma: int) -> dict[str, Any] | None:
    """zoo_quality's cached CBM3D row for the same set and noise, if it was measured."""
    if not CACHE.is_file():
        return None
    case = Case("denoise-rgb", DATASET, f"gaussian:sigma={sigma}")
    return json.loads(CACHE.read_text()).get(f"bm3d|{case.key}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sigmas", default="25")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from restorekit.evaluate.tables import format_table
    from restorekit.zoo import load_zoo_restorer
    from restorekit.zoo.publish import evaluate_model

    folder = default_data() / DATASET
    if not folder.is_dir():
        print(f"{folder} not found (set RESTOREKIT_DATA)", file=sys.stderr)
        return 1
    net = load_zoo_restorer("rk-unet-rgb-blind", device="cpu")
    rows = []
    for sigma in [int(s) for s in args.sigmas.split(",")]:
        spec = f"gaussian:sigma={sigma}"
        cbm3d = _cbm3d_row(sigma)
        if cbm3d:
            rows.append({"sigma": sigma, "method": "CBM3D (zoo_quality.json)",
                         "PSNR": cbm3d["sigma_psnr"], "SSIM": cbm3d["sigma_ssim"],
                         "s/image": cbm3d["seconds"] / cbm3d["images"]})
        for restorer in (net, NetPilotWiener(net)):
            print(f"{spec}: {restorer.name} ...", flush=True)
            start = time.perf_counter()
            row = evaluate_model(restorer, folder, spec, blind=False)
            rows.append({"sigma": sigma, "method": restorer.name, "PSNR": row["sigma_psnr"],
                         "SSIM": row["sigma_ssim"],
                         "s/image": (time.perf_counter() - start) / row["images"]})
    table = format_table(rows, "md", digits=2)
    print(table)
    verdicts = []
    for sigma in sorted({r["sigma"] for r in rows}):
        by = {r["method"]: r["PSNR"] for r in rows if r["sigma"] == sigma}
        hybrid, alone = by.get(NetPilotWiener.name), by.get(net.name)
        cbm3d = by.get("CBM3D (zoo_quality.json)")
        if hybrid is not None and alone is not None and cbm3d is not None:
            verdicts.append(f"sigma {sigma}: {hybrid - alone:+.2f} dB over the net alone, "
                            f"{hybrid - cbm3d:+.2f} dB against CBM3D")
    text = "\n".join([
        "# The colour net as the pilot of CBM3D's Wiener stage (Urban100)", "",
        __doc__.split("\n\n", 1)[1].split("Every method")[0].strip(), "",
        f"- Regenerate: `python benchmarks/cbm3d_pilot.py --sigmas {args.sigmas}`",
        f"- Machine: {cpu_model()}, {args.threads} torch thread(s); written "
        f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}. `s/image` includes the "
        "scoring; CBM3D's time is its zoo_quality measurement (another run).",
        f"- Set: `{DATASET}` (10 images), unclipped Gaussian noise seeded per image, every "
        "method told the true sigma; PSNR/SSIM on RGB, no border crop.",
        "- Result, the hybrid: " + ("; ".join(verdicts) or "n/a") + ".", "",
        table, ""])
    write_report(args.out, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
