"""PNG plots of evaluation results and training logs (matplotlib, Agg, imported lazily).

Files are written atomically; no pyplot global state is touched, so plotting is thread-safe and
works without a display.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from restorekit.atomic import atomic_write
from restorekit.errors import RestorekitError


def new_figure(width: float = 6.0, height: float = 4.0) -> Any:
    """A matplotlib figure on the Agg canvas (no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` as a PNG, atomically."""
    fig.tight_layout()
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def plot_sweep(rows: Sequence[Mapping[str, Any]], x: str, y: str | Sequence[str],
               path: str | os.PathLike[str], *, title: str = "") -> Path:
    """Line plot of column(s) ``y`` against column ``x`` of ``rows``; returns ``path``."""
    ys = [y] if isinstance(y, str) else list(y)
    if not rows:
        raise RestorekitError("nothing to plot: no rows")
    for col in (x, *ys):
        if col not in rows[0]:
            raise RestorekitError(f"no column {col!r} to plot (have {', '.join(rows[0])})")
    fig = new_figure()
    ax = fig.add_subplot()
    xs = [_number(r[x]) for r in rows]
    for col in ys:
        ax.plot(xs, [_number(r[col]) for r in rows], marker="o", label=col)
    ax.set_xlabel(x)
    ax.set_ylabel(ys[0] if len(ys) == 1 else "value")
    if len(ys) > 1:
        ax.legend()
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    return save_figure(fig, path)


def plot_benchmark(summary: Sequence[Mapping[str, Any]], path: str | os.PathLike[str], *,
                   metric: str = "psnr") -> Path:
    """Grouped bars of mean ``metric``: one group per dataset/degradation, one bar per restorer."""
    if not summary:
        raise RestorekitError("nothing to plot: no rows")
    groups = list(dict.fromkeys(f"{r['dataset']}\n{r['degradation']}" for r in summary))
    names = list(dict.fromkeys(r["restorer"] for r in summary))
    value = {(f"{r['dataset']}\n{r['degradation']}", r["restorer"]): _number(r[metric])
             for r in summary}
    fig = new_figure(max(6.0, 1.2 * len(groups) * max(1, len(names)) / 2), 4.5)
    ax = fig.add_subplot()
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        vals = [value.get((g, name), math.nan) for g in groups]
        vals = [v if math.isfinite(v) else math.nan for v in vals]  # inf PSNR: no bar
        ax.bar(np.arange(len(groups)) + k * width - 0.4 + width / 2, vals, width, label=name)
    ax.set_xticks(np.arange(len(groups)), groups, fontsize=8)
    ax.set_ylabel(metric)
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    return save_figure(fig, path)


def fit_log_trend(steps: Iterable[float], losses: Iterable[float]) -> tuple[float, float]:
    """Least-squares ``(a, b)`` of ``loss = a + b * ln(step)`` over points with step > 0."""
    s = np.asarray(list(steps), dtype=np.float64)
    y = np.asarray(list(losses), dtype=np.float64)
    keep = (s > 0) & np.isfinite(s) & np.isfinite(y)
    s, y = s[keep], y[keep]
    if len(np.unique(s)) < 2:
        raise RestorekitError("a log trend needs losses at two or more distinct steps > 0")
    design = np.stack([np.ones_like(s), np.log(s)], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(a), float(b)


def read_loss_log(csv_path: str | os.PathLike[str]) -> list[dict[str, float]]:
    """``{"step", "loss"}`` rows of a training ``log.csv`` (rows without a loss are skipped)."""
    p = Path(csv_path)
    try:
        with open(p, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields = reader.fieldnames or []
            if "step" not in fields or "loss" not in fields:
                raise RestorekitError(f"{p} has no 'step' and 'loss' columns")
            rows = [{"step": _number(r["step"]), "loss": _number(r["loss"])} for r in reader]
    except OSError as exc:
        raise RestorekitError(f"cannot read loss log '{p}': {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise RestorekitError(f"loss log '{p}' is not a CSV text file ({exc})") from None
    return [r for r in rows if math.isfinite(r["step"]) and math.isfinite(r["loss"])]


def plot_loss_curve(csv_path_or_rows: str | os.PathLike[str] | Sequence[Mapping[str, Any]],
                    path: str | os.PathLike[str], *, title: str = "") -> tuple[float, float] | None:
    """Plot loss vs step (log-x) with the fitted ``a + b ln(step)`` trend; return ``(a, b)``.

    Accepts a ``log.csv`` path or rows with ``step`` and ``loss``. The trend is omitted (and
    None returned) when fewer than two distinct positive steps are logged.
    """
    if isinstance(csv_path_or_rows, (str, os.PathLike)):
        rows: Sequence[Mapping[str, Any]] = read_loss_log(csv_path_or_rows)
    else:
        rows = csv_path_or_rows
    steps = np.array([_number(r["step"]) for r in rows], dtype=np.float64)
    losses = np.array([_number(r["loss"]) for r in rows], dtype=np.float64)
    if not len(rows) or not np.isfinite(losses).any():
        raise RestorekitError("no loss values to plot")
    try:
        fit: tuple[float, float] | None = fit_log_trend(steps, losses)
    except RestorekitError:
        fit = None
    fig = new_figure()
    ax = fig.add_subplot()
    ax.plot(steps, losses, lw=0.8, alpha=0.7, label="loss")
    if fit is not None:
        a, b = fit
        pos = np.unique(steps[steps > 0])
        grid = np.geomspace(pos[0], pos[-1], 200)
        ax.plot(grid, a + b * np.log(grid), "--", color="C3",
                label=f"trend {a:.4g} {'+' if b >= 0 else '-'} {abs(b):.4g} ln(step)")
        if steps.min() > 0:
            ax.set_xscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    save_figure(fig, path)
    return fit
