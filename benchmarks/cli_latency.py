"""Wall time of `restorekit restore photo.png -o out.png` on small photos, start to finish.

A practitioner restoring one photo waits for the whole command: Python and torch start-up,
reading the file, the noise estimate, the network, writing the result. For a small photo the
fixed costs dominate, so this times the real command in a fresh process (``python -m
restorekit -q restore IN -o OUT --overwrite``, default colour denoiser, torch's default threads)
on seeded noisy RGB images of a few sizes, the median of ``--runs`` runs, beside the floor no
command can go under (``python -c "import torch"``). With ``--compare REV`` the same commands
run from a checkout of git revision REV too, side by side in the same loop, so the two columns
share the machine's load.

Prints a table and writes ``docs/benchmarks/cli_latency.md``::

    python benchmarks/cli_latency.py [--runs 5] [--sizes 320x240,1024x768,2048x1536] [--compare REV]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine_info import REPO, command_line, run_stamp, write_report  # noqa: E402  (benchmarks/ is on sys.path)
from tiling_memory import machine  # noqa: E402

OUT = REPO / "docs" / "benchmarks" / "cli_latency.md"


def _seconds(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    """Wall time of ``cmd``; run from ``cwd``, since ``python -m`` imports from the current
    folder before ``PYTHONPATH`` (from the repository, every checkout would be this one)."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=cwd)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def _photo(path: Path, width: int, height: int, seed: int) -> None:
    """A smooth colour scene with Gaussian noise (sigma 15), as an 8-bit PNG."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    scene = np.stack([0.5 + 0.3 * np.sin(9 * x + 3 * c) * np.cos(7 * y - c) for c in range(3)], -1)
    noisy = scene + rng.normal(0, 15 / 255, scene.shape)
    Image.fromarray(np.round(np.clip(noisy, 0, 1) * 255).astype(np.uint8)).save(path)


def _checkout(rev: str, where: Path) -> Path:
    """A detached worktree of ``rev`` (the zoo's weights included) under ``where``."""
    tree = where / f"rev-{rev}"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), rev],
                   check=True, capture_output=True)
    return tree


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="320x240,1024x768,2048x1536")
    parser.add_argument("--compare", metavar="REV", help="also time a checkout of this revision")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from restorekit.evaluate.tables import format_table

    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",") if s.strip()]
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        trees = {"this checkout": REPO}
        if args.compare:
            trees[args.compare] = _checkout(args.compare, tmp)
        try:
            envs = {name: {**base_env, "PYTHONPATH": str(tree)} for name, tree in trees.items()}
            floor = statistics.median(
                _seconds([sys.executable, "-c", "import torch"], base_env, tmp)
                for _ in range(args.runs))
            for env in envs.values():  # untimed: compiles a fresh checkout's bytecode
                _seconds([sys.executable, "-m", "restorekit", "models"], env, tmp)
            rows = []
            for i, (w, h) in enumerate(sizes):
                src = tmp / f"photo{w}x{h}.png"
                _photo(src, w, h, seed=i)
                row: dict[str, object] = {"image": f"{w}x{h}", "megapixels": w * h / 1e6}
                times: dict[str, list[float]] = {name: [] for name in trees}
                for _ in range(args.runs):  # interleaved: both checkouts see the same load
                    for name, env in envs.items():
                        cmd = [sys.executable, "-m", "restorekit", "-q", "restore", str(src),
                               "-o", str(tmp / f"out-{w}x{h}.png"), "--overwrite"]
                        times[name].append(_seconds(cmd, env, tmp))
                for name, ts in times.items():
                    row[f"{name} s"] = statistics.median(ts)
                row["import torch s"] = floor
                rows.append(row)
                print(format_table([row], "table", digits=2), flush=True)
        finally:
            for tree in trees.values():
                if tree != REPO:
                    subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                                    str(tree)], capture_output=True)
    total = time.perf_counter() - start
    text = "\n".join([
        "# `restorekit restore` on one small photo: wall time of the whole command",
        "",
        __doc__.split("\n\n", 1)[1].split("Prints a table")[0].strip(),
        "",
        f"- Command: `{command_line('cli_latency.py', argv)}`",
        f"- Machine: {machine(os.cpu_count() or 1)}",
        run_stamp(total),
        "",
        format_table(rows, "md", digits=2),
        "",
    ])
    write_report(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
