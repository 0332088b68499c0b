"""Quality of the shipped models against the baselines they must beat, side by side.

Every row is measured by the model cards' own protocol (``restorekit.zoo.publish.evaluate_model``:
degradation seeded by image index, Gaussian noise not clipped, PSNR/SSIM of the clipped output):

- gray denoising, Set12, sigma 15 / 25 / 50: BM3D (true sigma) vs the default gray denoiser;
- colour denoising, Urban100 (10 images), sigma 15 / 25 / 50: CBM3D (``bm3d.bm3d_rgb``, true
  sigma) vs the colour denoiser and the gray denoiser run per channel;
- both denoising groups again at sigma 25 / 50 with the noise clipped to [0, 1]
  (``gaussian:sigma=S,clip=true``), as it is in any noisy image file: the AWGN convention above
  keeps negative and above-one values that no PNG or JPEG can hold;
- real camera noise, CC15 (15 real noisy / mean-of-burst pairs, cameras never trained on):
  CBM3D with the noise level estimated vs every shipped denoiser, blind;
- JPEG deblocking, Classic5, quality 10 / 20 / 30 / 40: the JPEG itself vs the deblocker; and
  on colour (Urban100, quality 10 / 20, 4:2:0 chroma, PSNR on RGB) the gray deblocker in YCbCr;
- super-resolution, Set5 on Y, x2 / x3 / x4, border of the scale cropped: bicubic vs every SR model
  made for that scale.

Networks are scored blind (noise level estimated) and, when they take one, with the true sigma;
each group's default model (and the gray JPEG and SR specialists) also with x8 self-ensemble
(``NAME+x8``, ``--self-ensemble`` on the command line: the mean over 8 flips and rotations, 8
times the compute).
Rows are cached in ``docs/benchmarks/zoo_quality.json`` under the method, the case and the
weights' sha256, so the slow classical baselines run once and a republished model is re-measured.
Prints a table and writes ``docs/benchmarks/zoo_quality.md``::

    python benchmarks/zoo_quality.py [--only denoise-gray,denoise-rgb,jpeg,sr] [--match TEXT]
                                     [--fresh]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from machine_info import REPO, cpu_model, default_data, write_report  # noqa: E402

OUT = REPO / "docs" / "benchmarks" / "zoo_quality.md"
CACHE = OUT.with_suffix(".json")


@dataclass(frozen=True)
class Case:
    """One validation set under one degradation, scored one way."""

    group: str
    dataset: str
    spec: str
    task: str = "denoise"
    color: str = "as-is"
    y_channel: bool = False
    crop_border: int | str = 0
    goal: str = ""
    x8: bool = True  # also score the group's default model with x8 self-ensemble
    scale: int | None = None  # the SR scale factor (specialists for it are scored too)

    @property
    def key(self) -> str:
        return f"{self.dataset}|{self.spec}|{self.color}|{int(self.y_channel)}|{self.crop_border}"


CASES = [
    *(Case("denoise-gray", "set12", f"gaussian:sigma={s}", goal=g)
      for s, g in ((15, "DnCNN-S 32.84"), (25, "DnCNN-S 30.42"), (50, "DnCNN-S 27.18"))),
    *(Case("denoise-rgb", "urban100_sub10", f"gaussian:sigma={s}",
           goal="CBM3D + 0.7 dB" if s == 25 else "") for s in (15, 25, 50)),
    # noise clipped to [0, 1], as in every noisy image file: black and white areas matter
    *(Case(group, dataset, f"gaussian:sigma={s},clip=true", x8=False) for group, dataset in
      (("denoise-gray", "set12"), ("denoise-rgb", "urban100_sub10")) for s in (25, 50)),
    Case("real-rgb", "cc15_nam", "pairs", goal="beat the Gaussian colour model"),
    *(Case("jpeg", "classic5", f"jpeg:quality={q}", task="jpeg",
           goal={10: "DnCNN-3 29.40; MemNet 29.69",
                 20: "DnCNN-3 31.63; MemNet 31.90"}.get(q, "")) for q in (10, 20, 30, 40)),
    *(Case("jpeg-rgb", "urban100_sub10", f"jpeg:quality={q}", task="jpeg") for q in (10, 20)),
    *(Case("sr", "set5", f"resample:scale={s}", task="sr", color="y", crop_border="scale",
           goal=f"DnCNN-3 {d}; MemNet {m}", scale=s)
      for s, d, m in ((2, "37.58", "37.78"), (3, "33.75", "34.09"), (4, "31.40", "31.74"))),
]
X8 = "+x8"  # a method name suffix: the model with x8 self-ensemble

#: The classical baseline of each group (None: the degraded input itself is the baseline).
BASELINES = {"denoise-gray": "bm3d", "denoise-rgb": "bm3d", "real-rgb": "bm3d", "jpeg": None,
             "jpeg-rgb": None, "sr": None}


def _methods(group: str, task: str, channels: int, x8: bool = True,
             scale: int | None = None) -> list[str]:
    """The shipped models to score for a group: its default, plus the gray model per channel
    (and, for gray JPEG and SR, the other shipped models: the quality 10-20 deblocker, the SR
    nets made for ``scale``); the default and those others also with x8 self-ensemble when
    ``x8``."""
    import restorekit.zoo as zoo

    if group == "real-rgb":  # every shipped denoiser, Gaussian or real-noise
        return [m.name for m in zoo.zoo_models().values() if m.task == "denoise"]
    names = []
    for c in (channels, 1):
        name = zoo.default_model(task, c, scale)
        if name and name not in names:
            names.append(name)
    if not names:
        return names
    ensembled = names[:1]
    if group in ("jpeg", "sr"):
        others = [m.name for m in zoo.zoo_models().values()
                  if m.serves(task, scale) and m.name not in names]
        names += others
        ensembled += others
    return [m for name in names for m in ([name, f"{name}{X8}"] if x8 and name in ensembled
                                          else [name])]


def _measure(method: str, case: Case, data: Path) -> dict[str, Any]:
    from restorekit.api import make_restorer
    from restorekit.zoo.publish import evaluate_model

    name = method.removesuffix(X8)
    options = {"self_ensemble": True} if name != method else {}
    restorer = make_restorer(name, device="cpu", task=case.task, **options)
    start = time.perf_counter()
    row = evaluate_model(restorer, data / case.dataset, case.spec, color=case.color,
                         y_channel=case.y_channel, crop_border=case.crop_border,
                         task=case.task, blind=method != "bm3d" or case.spec == "pairs")
    row["seconds"] = round(time.perf_counter() - start, 1)
    return row


def _method_id(method: str) -> str:
    import restorekit.zoo as zoo

    name = method.removesuffix(X8)
    model = zoo.zoo_models().get(name)
    return f"{name}@{model.card['sha256'][:12]}{method[len(name):]}" if model else method


def _drop_stale(cache: dict) -> dict:
    """Forget rows measured on weights that are no longer the shipped ones."""
    import restorekit.zoo as zoo

    current = {_method_id(name) for name in zoo.zoo_models()}

    def live(key: str) -> bool:
        method = key.split("|", 1)[0].removesuffix(X8)
        return "@" not in method or method in current

    return {k: v for k, v in cache.items() if live(k)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated groups: "
                        + ", ".join(BASELINES))
    parser.add_argument("--match", default="", help="measure only cases whose degradation "
                        "contains this text, e.g. sigma=25")
    parser.add_argument("--fresh", action="store_true", help="ignore the cached rows")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from restorekit.evaluate.tables import format_table

    data = default_data()
    cache_path = args.out.with_suffix(".json")
    cache = {} if args.fresh or not cache_path.is_file() else json.loads(cache_path.read_text())
    cache = _drop_stale(cache)
    groups = [g for g in args.only.split(",") if g] or list(BASELINES)
    rows = []
    for case in CASES:
        if not (data / case.dataset).is_dir():
            print(f"skip {case.dataset}: not found under {data} (set RESTOREKIT_DATA)",
                  file=sys.stderr)
            continue
        channels = 3 if case.group.endswith("-rgb") else 1
        methods = ([BASELINES[case.group]] if BASELINES[case.group] else []) + _methods(
            case.group, case.task, channels, case.x8, case.scale)
        for method in methods:
            key = f"{_method_id(method)}|{case.key}"
            if key not in cache and case.group in groups and args.match in case.spec:
                print(f"{case.dataset} {case.spec}: {method} ...", flush=True)
                cache[key] = _measure(method, case, data)
                cache_path.write_text(json.dumps(cache, indent=1, sort_keys=True) + "\n")
            if key in cache:
                row = cache[key]
                rows.append({"task": case.group, "set": case.dataset,
                             "degradation": case.spec, "method": method,
                             "input PSNR": row["input_psnr"],
                             "output PSNR": row.get("blind_psnr", "-"),
                             "true-sigma PSNR": row.get("sigma_psnr", "-"),
                             "SSIM": row.get("blind_ssim", row.get("sigma_ssim")),
                             "goal": case.goal})
    cache_path.write_text(json.dumps(cache, indent=1, sort_keys=True) + "\n")
    table = format_table(rows, "table", digits=2)
    print(table)
    text = "\n".join([
        "# Shipped models vs the baselines they must beat",
        "",
        __doc__.split("\n\n", 1)[1].split("Prints a table")[0].strip(),
        "",
        "- Regenerate: `python benchmarks/zoo_quality.py` (rows already in the JSON cache are "
        "reused; `--fresh` measures everything again; `--only GROUP` measures one group)",
        f"- Machine: {cpu_model()}, {args.threads} torch threads; table written "
        f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}; each row's measuring time "
        "is in the JSON (`seconds`)",
        "- `input PSNR` is the degraded input (for JPEG the decoded JPEG, for SR bicubic);"
        " `output PSNR` the method with nothing but the image (noise level estimated), "
        "`true-sigma PSNR` the method told the true sigma; `SSIM` goes with `output PSNR` (the"
        " baseline's with true sigma). Baselines: BM3D / CBM3D (bm3d package).",
        "",
        format_table(rows, "md", digits=2),
        "",
    ])
    write_report(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
