"""``restorekit reproduce NAME``: re-run one paper's experiment and write its report.

Each experiment is a module in this package that defines ``EXPERIMENT`` (an :class:`Experiment`).
Its ``run(ctx)`` trains and measures under ``ctx.budget`` (``quick``: under 10 minutes on two CPU
cores; ``full``: under two hours) and returns a :class:`Report`, which is written as markdown to
``OUT/NAME.md`` with its figures in ``OUT/NAME/``. Configs live in ``restorekit/experiments/``.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import platform
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path

from restorekit.errors import UnknownNameError
from restorekit.reproduce.context import Budget, ReproContext
from restorekit.reproduce.report import Report

__all__ = ["Experiment", "Report", "ReproContext", "Budget", "EXPERIMENT_MODULES",
           "list_experiments", "get_experiment", "run_experiment"]

#: Experiment name -> module defining ``EXPERIMENT`` (imported on first use).
EXPERIMENT_MODULES: dict[str, str] = {
    "cnn-lstm-mnist": "restorekit.reproduce.cnn_lstm_mnist",
    "gated-dsc": "restorekit.reproduce.gated_dsc",
    "dae-mnist-classifier": "restorekit.reproduce.dae_mnist_classifier",
    "sidd-autoencoder": "restorekit.reproduce.sidd_autoencoder",
    "memnet-restoration": "restorekit.reproduce.memnet_restoration",
}


@dataclass(frozen=True)
class Experiment:
    """One paper's experiment: what it claims and how to re-run it."""

    name: str
    title: str
    paper: str  # full citation
    claim: str  # the paper's claim we test, in one or two sentences
    run: object = field(repr=False)  # Callable[[ReproContext], Report]


def _module_exists(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def list_experiments() -> list[str]:
    """Names of the experiments whose modules are present, in the papers' order."""
    return [name for name, module in EXPERIMENT_MODULES.items() if _module_exists(module)]


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name``; an unknown name is one clear error with suggestions."""
    module = EXPERIMENT_MODULES.get(name)
    if module is None or not _module_exists(module):
        close = difflib.get_close_matches(name, list_experiments(), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UnknownNameError(f"unknown experiment {name!r}{hint} "
                               f"(see `restorekit reproduce --list`)")
    return importlib.import_module(module).EXPERIMENT


#: Said beside a report's time: training runs already finished are not run again.
REUSE_NOTE = ("Training runs already finished in the report's work folder are reused, not "
              "retrained, so that time can be shorter than a first run's.")


def run_experiment(name: str, *, budget: Budget = "quick", out: str | Path = "reports",
                   seed: int = 0, device: str = "auto", quiet: bool = False,
                   data_root: str | Path | None = None,
                   overrides: tuple[str, ...] | list[str] = ()) -> Path:
    """Run experiment ``name`` and write ``out/NAME.md`` (+ figures); return the report path."""
    experiment = get_experiment(name)
    ctx = ReproContext.create(name, budget=budget, out=out, seed=seed, device=device,
                              quiet=quiet, data_root=data_root, overrides=overrides)
    start = time.perf_counter()
    report = experiment.run(ctx)
    elapsed = time.perf_counter() - start
    command = f"restorekit reproduce {name} --budget {budget} --seed {seed} --out {out}" + "".join(
        f" --set {shlex.quote(o)}" for o in ctx.overrides)
    header = [
        f"# {experiment.title}",
        "",
        f"Paper: {experiment.paper}",
        "",
        f"Claim tested: {experiment.claim}",
        "",
        f"Regenerate: `{command}` (budget `{budget}`, {elapsed / 60:.1f} min on "
        f"{ctx.device_name()}, {platform.machine()}, torch threads {ctx.threads()}). "
        f"{REUSE_NOTE}",
        "",
    ]
    return report.write(ctx.out / f"{name}.md", header)
