"""The gated-dsc plan (``experiment.toml``), its training runs and the test-crop measurements.

Split from :mod:`restorekit.reproduce.gated_dsc` (which writes the report): here the plan is
read, each denoiser is trained by :func:`restorekit.train.train` from a config of
``restorekit/experiments/gated_dsc/`` plus overrides, its test-crop MSE is recorded during
training, and the 64x64 test crops (noise and box noise) are built and scored.

MSE is reported on the 0-255 scale, as the paper's Fig. 6: ``255**2`` times the MSE of images in
[0, 1]. Training losses are the trainer's (outputs as the net gives them); test MSEs use the
output clamped to [0, 1], i.e. a valid image.
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from restorekit.errors import RestorekitError
from restorekit.reproduce.context import RESUME_HINT, ReproContext, read_toml

CONFIG_DIR = Path(__file__).resolve().parents[1] / "experiments" / "gated_dsc"
PLAN_FILE = CONFIG_DIR / "experiment.toml"
SCALE = 255.0**2  # MSE of [0, 1] images -> MSE on the 0-255 scale


@dataclass(frozen=True)
class Budget:
    """What one budget runs (from ``experiment.toml``; tests pass a tiny one)."""

    steps: dict[str, int]  # run name -> optimizer steps (runs absent are skipped)
    curve_points: int
    test_crops: int
    figure_images: int
    classifier_train: int
    classifier_test: int
    classifier_epochs: int
    classifier_evals: int
    transfer_from: str
    batch_size: int | None = None  # None: the configs' minibatch of 10 (the paper's)


@dataclass(frozen=True)
class Plan:
    """Runs (name -> label, config, set), the test protocol, classifier settings, a budget."""

    runs: dict[str, dict[str, Any]]
    test: dict[str, Any]
    classifier: dict[str, Any]
    budget: Budget




def load_plan(budget: str, path: Path = PLAN_FILE, **changes: Any) -> Plan:
    """The plan of ``budget`` from ``experiment.toml``; ``changes`` replace budget fields."""
    data = read_toml(path)
    budgets = data.get("budgets", {})
    if budget not in budgets:
        raise RestorekitError(f"{path}: no [budgets.{budget}] (have {', '.join(budgets)})")
    fields = {**budgets[budget], **changes}
    try:
        b = Budget(**fields)
    except TypeError as exc:
        raise RestorekitError(f"{path}: [budgets.{budget}]: {exc}") from None
    runs = data.get("runs", {})
    unknown = sorted(set(b.steps) - set(runs))
    if unknown or b.transfer_from not in b.steps:
        raise RestorekitError(f"{path}: budget {budget} names unknown runs "
                              f"{unknown or [b.transfer_from]}")
    return Plan(runs=runs, test=dict(data["test"]), classifier=dict(data["classifier"]),
                budget=b)


def with_budget(plan: Plan, **changes: Any) -> Plan:
    """``plan`` with some budget fields replaced."""
    return replace(plan, budget=replace(plan.budget, **changes))


# --------------------------------------------------------------------------- configs and runs


def run_config(ctx: ReproContext, plan: Plan, name: str) -> Any:
    """The resolved training config of run ``name`` under ``plan`` (steps, seed, out dir)."""
    run = plan.runs[name]
    steps = plan.budget.steps[name]
    base = ctx.load_config(CONFIG_DIR / run["config"], [*run.get("set", [])], resolve=False)
    batch = plan.budget.batch_size or base.train.batch_size
    # The folder names what was trained: a changed config or run overrides never reuse or mix
    # with an older run (``--set`` overrides get a work folder of their own).
    what = [(CONFIG_DIR / run["config"]).read_text(encoding="utf-8"), *run.get("set", [])]
    tag = hashlib.sha256("\n".join(what).encode()).hexdigest()[:8]
    out = ctx.work / f"{name}-{steps}x{batch}-seed{ctx.seed}-{tag}"
    data_root = ctx.data_root / Path(base.data.root.replace("${RESTOREKIT_DATA}", "")
                                     .lstrip("/"))
    overrides = [*run.get("set", []), f"data.root={data_root}",
                 f"train.steps={steps}", f"train.seed={ctx.seed}", f"train.out_dir={out}",
                 f"train.device={ctx.device}",
                 f"train.checkpoint_interval={max(1, min(500, steps))}",
                 f"train.log_interval={max(1, min(10, steps // 10 or 1))}"]
    if plan.budget.batch_size is not None:
        overrides.append(f"train.batch_size={plan.budget.batch_size}")
    return ctx.load_config(CONFIG_DIR / run["config"], overrides)


class _PerceptualTrainer:
    """Builds a Trainer whose perceptual loss uses an in-memory extractor (our classifier).

    The config keeps ``loss = "perceptual"`` and its ``layers`` (so the run's config.toml says
    what was trained); the extractor module itself is not a registered restorer, so it is
    handed to :class:`~restorekit.train.losses.PerceptualLoss` here instead of by path.
    """

    @staticmethod
    def make(config: Any, extractor: nn.Module, **kwargs: Any) -> Any:
        from restorekit.train.losses import PerceptualLoss
        from restorekit.train.trainer import Trainer

        class PerceptualTrainer(Trainer):
            def _setup(self) -> None:
                t = self.config.train
                loss, options = t.loss, dict(t.loss_options)
                t.loss, t.loss_options = "mse", {}
                try:
                    super()._setup()
                finally:
                    t.loss, t.loss_options = loss, options
                self.loss_fn = PerceptualLoss(extractor, **options).to(self.device)

        return PerceptualTrainer(config, **kwargs)


@dataclass
class RunResult:
    """One trained denoiser: the net, its config and folder, and its recorded curves."""

    name: str
    label: str
    net: nn.Module | None
    config: Any
    out: Path
    steps: int
    curve: list[dict[str, float]]  # test-crop MSE (0-255) at a few steps
    log: list[dict[str, float]]  # training loss (0-255 MSE for pixel losses) per log row
    seconds: float = math.nan
    error: str = ""  # set when training failed (e.g. the loss diverged)


def _read_curve(path: Path, upto: int) -> list[dict[str, float]]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
    return [r for r in rows if r["step"] <= upto]


def _write_curve(path: Path, rows: list[dict[str, float]]) -> None:
    from restorekit.atomic import atomic_write_text

    lines = ["step,test_mse,test_psnr"] + [
        f"{int(r['step'])},{r['test_mse']:.6g},{r['test_psnr']:.6g}" for r in rows]
    atomic_write_text(path, "\n".join(lines) + "\n")


def read_log(out: Path, scale: float) -> list[dict[str, float]]:
    """``step``, ``loss`` (times ``scale``) and ``seconds`` rows of a run's ``log.csv``."""
    path = out / "log.csv"
    if not path.is_file():
        return []
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            if r.get("loss"):
                rows.append({"step": float(r["step"]), "loss": float(r["loss"]) * scale,
                             "seconds": float(r.get("seconds") or "nan")})
    return rows


_DATASETS: dict[str, Any] = {}


def _train_set(config: Any) -> Any:
    """The training set of ``config``, built once per data section and seed (decoding the
    training folder takes seconds; every run of the experiment shares it)."""
    import json
    from dataclasses import asdict

    from restorekit.train.trainer import build_datasets

    key = json.dumps([asdict(config.data), config.train.seed], sort_keys=True, default=str)
    if key not in _DATASETS:
        _DATASETS.clear()  # keep one decoded set in memory
        _DATASETS[key] = build_datasets(config)[0]
    return _DATASETS[key]


def train_run(ctx: ReproContext, plan: Plan, name: str, noisy: torch.Tensor,
              clean: torch.Tensor, *, extractor: nn.Module | None = None) -> RunResult:
    """Train run ``name`` (reusing a finished run, continuing an interrupted one).

    The test-crop MSE is measured ``curve_points`` times during training (a trainer callback;
    saved to ``test_curve.csv`` in the run folder).
    """
    config = run_config(ctx, plan, name)
    steps = config.train.steps
    out = Path(config.train.out_dir)
    label = plan.runs[name]["label"]
    points = max(1, plan.budget.curve_points)
    marks = {max(1, round(steps * k / points)) for k in range(1, points + 1)}
    resume = (out / "checkpoints" / "last.pt").is_file()
    done = 0
    if resume:
        from restorekit.train.checkpoint import load_checkpoint

        done = int(load_checkpoint(out / "checkpoints" / "last.pt", map_location="cpu")["step"])
    curve_path = out / "test_curve.csv"
    curve = _read_curve(curve_path, done)

    def measure(trainer: Any, step: int) -> None:
        if step in marks:
            mse = evaluate_mse(trainer.net, noisy, clean)
            curve.append({"step": float(step), "test_mse": mse,
                          "test_psnr": psnr_from_mse(mse)})
            _write_curve(curve_path, curve)

    pixel = config.train.loss in ("mse", "l2")
    kwargs = {"resume": resume, "quiet": ctx.quiet, "callbacks": [measure],
              "train_set": _train_set(config), "resume_hint": RESUME_HINT}
    ctx.log(f"training {label} ({name}, {steps} steps) in {out}")
    try:
        if config.train.loss == "perceptual":
            if extractor is None:
                raise RestorekitError(f"run {name!r} uses the perceptual loss but no extractor "
                                      "was given")
            result = _PerceptualTrainer.make(config, extractor, **kwargs).run()
        else:
            from restorekit.train import train

            result = train(config, **kwargs)
    except RestorekitError as exc:  # e.g. a diverged loss: reported, not fatal
        return RunResult(name, label, None, config, out, steps, curve,
                         read_log(out, SCALE if pixel else 1.0), error=str(exc))
    if result.interrupted:
        raise RestorekitError(f"training of {name} was interrupted at step {result.step}; "
                              "re-run the same command to continue")
    net = result.model.eval()
    return RunResult(name, label, net, config, out, steps, curve,
                     read_log(out, SCALE if pixel else 1.0), seconds=result.elapsed)


# --------------------------------------------------------------------------- test crops


def _rgb_float(pixels: np.ndarray) -> np.ndarray:
    a = np.asarray(pixels)
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / np.float32(255)
    elif a.dtype == np.uint16:
        a = a.astype(np.float32) / np.float32(65535)
    else:
        a = np.clip(a.astype(np.float32), 0, 1)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    return np.ascontiguousarray(a[..., :3])


def test_source(ctx: ReproContext, plan: Plan) -> tuple[Any, str]:
    """The test image source and its description (STL-10's test split under the switch)."""
    from restorekit.data import make_source

    t = plan.test
    kind, root, split, options = t["kind"], ctx.data_root / t["root"], t["split"], t["options"]
    sets = dict(o.split("=", 1) for o in ctx.overrides if "=" in o)
    if sets.get("data.kind") == "stl10":
        kind, root, split, options = "stl10", Path(sets.get("data.root", "")), "test", {}
    elif not root.exists():
        raise RestorekitError(f"test set {t['root']!r} not found under {ctx.data_root} "
                              "(set RESTOREKIT_DATA to the folder holding it)")
    return make_source(kind, root, split=split, **options), f"{kind}:{Path(root).name}/{split}"


def test_crops(source: Any, n: int, size: int, seed: int) -> np.ndarray:
    """``n`` seeded ``size`` x ``size`` RGB crops, cycling over the source's images."""
    rng = np.random.default_rng([seed, 64])
    crops = []
    for i in range(n):
        img = _rgb_float(source.get(i % len(source))["clean"])
        h, w = img.shape[:2]
        if h < size or w < size:
            raise RestorekitError(f"test image {i % len(source)} is {w}x{h}, smaller than the "
                                  f"{size}x{size} crops")
        y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        crops.append(img[y:y + size, x:x + size])
    return np.stack(crops)


def degrade_crops(crops: np.ndarray, spec: str, seed: int) -> tuple[np.ndarray, list[dict]]:
    """Each crop degraded by ``spec`` with its own seeded generator; returns images, params."""
    from restorekit.degrade import parse_spec

    deg = parse_spec(spec)
    out, params = [], []
    for i, c in enumerate(crops):
        y, p = deg(c, np.random.default_rng([seed, 65, i]))
        out.append(np.asarray(y, np.float32))
        params.append(p)
    return np.stack(out), params


def to_batch(images: np.ndarray) -> torch.Tensor:
    """N x H x W x 3 float images -> N x 3 x H x W tensor."""
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


@torch.no_grad()
def denoise(net: nn.Module, noisy: torch.Tensor, batch_size: int = 10) -> torch.Tensor:
    """The net's output for a batch, clamped to [0, 1] (eval mode; the mode is restored)."""
    was = net.training
    net.eval()
    dev = next(net.parameters()).device
    try:
        outs = [net(noisy[i:i + batch_size].to(dev)).float().cpu().clamp_(0, 1)
                for i in range(0, len(noisy), batch_size)]
    finally:
        net.train(was)
    return torch.cat(outs)


def mse255(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """MSE on the 0-255 scale (over ``mask`` pixels if given, mask N x 1 x H x W)."""
    d = (a.double() - b.double()) ** 2
    if mask is None:
        return float(d.mean()) * SCALE
    m = mask.double().expand_as(d)
    return float((d * m).sum() / m.sum().clamp(min=1)) * SCALE


def psnr_from_mse(mse: float) -> float:
    """PSNR (dB) of a 0-255 MSE."""
    return 10 * math.log10(SCALE / mse) if mse > 0 else math.inf


def evaluate_mse(net: nn.Module, noisy: torch.Tensor, clean: torch.Tensor) -> float:
    """Test MSE (0-255) of the clamped output."""
    return mse255(denoise(net, noisy), clean)


@torch.no_grad()
def conv1_maps(net: nn.Module, noisy: torch.Tensor) -> torch.Tensor:
    """ReLU(Conv-1(noisy)) of a conv-deconv10 / dsc10 net: N x 64 x H x W."""
    convs = getattr(net, "convs", None)
    if convs is None:
        raise RestorekitError(f"{type(net).__name__} has no Conv-1 to visualise")
    dev = next(net.parameters()).device
    return torch.relu(convs[0](noisy.to(dev))).cpu()
