"""What the studies around the dae-mnist-classifier report share: their common command-line
options and the report's context, whose work folder caches the runs they reuse."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from machine_info import REPO, default_data


def add_study_arguments(parser: argparse.ArgumentParser, out: Path) -> None:
    """--data, --seed, --threads, --quiet, --quick, --reproductions and --out (default ``out``)."""
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--quick", action="store_true",
                        help="the reproduction's quick settings (a smoke run, not the study)")
    parser.add_argument("--reproductions", type=Path, default=REPO / "docs" / "reproductions",
                        help="the folder holding the report's work folder (its cached runs)")
    parser.add_argument("--out", type=Path, default=out)


def study_context(args: argparse.Namespace) -> tuple[Any, Any]:
    """The report's context (its work folder, seed, data) and its settings for ``--quick`` or
    the full budget; torch's thread count set to ``--threads``."""
    import torch

    from restorekit.reproduce import ReproContext
    from restorekit.reproduce import dae_mnist_classifier as exp

    torch.set_num_threads(args.threads)
    ctx = ReproContext.create("dae-mnist-classifier", budget="quick" if args.quick else "full",
                              out=args.reproductions, seed=args.seed, device="auto",
                              quiet=args.quiet, data_root=args.data)
    return ctx, exp.QUICK if args.quick else exp.FULL
