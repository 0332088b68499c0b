"""Which deblocker for which JPEG quality: the default against the low-quality specialist.

`restorekit restore --task jpeg` reads a JPEG file's quality from its quantization tables and
picks a shipped model whose card names that quality in its ``qualities`` range; otherwise (a PNG,
or a higher quality) the default deblocker, trained on qualities 10-90. This benchmark scores
both on gray and colour sets across qualities, so the range on the card rests on a measurement
and can be checked: the specialist should win inside it and lose outside. The range was read
from this table; no JPEG model's weights were trained or selected on Set12 or Urban100 (Classic5
is the JPEG validation set).

Scoring is ``zoo_quality.py``'s (``evaluate_model``: Pillow's encoder, gray as mode L, colour
4:2:0, restored in YCbCr; PSNR on gray or RGB, no border crop). Prints a table and writes
``docs/benchmarks/jpeg_crossover.md``::

    python benchmarks/jpeg_crossover.py [--qualities 5,10,20,30,35,40,50] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

from machine_info import REPO, cpu_model, default_data, write_report  # benchmarks/ is on sys.path

OUT = REPO / "docs" / "benchmarks" / "jpeg_crossover.md"
SETS = (("classic5", "gray"), ("set12", "gray"), ("urban100_sub10", "rgb"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qualities", default="5,10,20,30,35,40,50")
    parser.add_argument("--sets", default=",".join(name for name, _ in SETS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from restorekit.evaluate.tables import format_table
    from restorekit.zoo import default_model, load_zoo_restorer, zoo_models
    from restorekit.zoo.publish import evaluate_model

    generalist = default_model("jpeg", 1)
    specialist = next((m for m in zoo_models().values() if m.task == "jpeg" and m.qualities),
                      None)
    if generalist is None or specialist is None:
        print("needs a default JPEG model and one with a qualities range", file=sys.stderr)
        return 1
    nets = {name: load_zoo_restorer(name, device="cpu") for name in (generalist, specialist.name)}
    qualities = [int(q) for q in args.qualities.split(",")]
    rows, findings = [], []
    for dataset, kind in SETS:
        if dataset not in args.sets.split(","):
            continue
        folder = default_data() / dataset
        if not folder.is_dir():
            print(f"{folder} not found (set RESTOREKIT_DATA); skipped", file=sys.stderr)
            continue
        wins = []
        for quality in qualities:
            spec = f"jpeg:quality={quality}"
            print(f"{dataset} {spec} ...", flush=True)
            score = {name: evaluate_model(net, folder, spec, task="jpeg")
                     for name, net in nets.items()}
            gain = score[specialist.name]["blind_psnr"] - score[generalist]["blind_psnr"]
            picked = default_model("jpeg", 1 if kind == "gray" else 3, quality=quality)
            better = specialist.name if gain > 0 else generalist
            wins.append((quality, gain > 0))
            rows.append({"set": f"{dataset} ({kind})", "quality": quality,
                         "JPEG": score[generalist]["input_psnr"],
                         generalist: score[generalist]["blind_psnr"],
                         specialist.name: score[specialist.name]["blind_psnr"],
                         "gain": gain, "restore picks": picked,
                         "the better?": "yes" if picked == better else "no"})
        won = [q for q, w in wins if w]
        findings.append(f"{dataset} ({kind}): the specialist wins at "
                        f"{', '.join(map(str, won)) or 'no quality'} of {args.qualities}")
    table = format_table(rows, "md", digits=3)
    print(table)
    lo, hi = specialist.qualities[0], specialist.qualities[-1]
    misses = sum(r["the better?"] == "no" for r in rows)
    text = "\n".join([
        "# Which deblocker for which JPEG quality", "",
        __doc__.split("\n\n", 1)[1].split("Scoring is")[0].strip(), "",
        f"- Regenerate: `python benchmarks/jpeg_crossover.py --qualities {args.qualities}`",
        f"- Machine: {cpu_model()}, {args.threads} torch thread(s); written "
        f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}.",
        f"- Models: `{generalist}` (default) and `{specialist.name}` (card: qualities "
        f"{lo}-{hi}). PSNR in dB, mean over each set.",
        *(f"- {f}." for f in findings),
        f"- Restore's pick is the better model in {len(rows) - misses} of {len(rows)} rows.", "",
        table, ""])
    write_report(args.out, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
