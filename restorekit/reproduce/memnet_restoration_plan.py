"""The plan of ``memnet-restoration`` (tasks, stress tests, budgets) and its training runs.

The plan lives in ``restorekit/experiments/memnet_restoration/experiment.toml``; each training
run is ``memnet.toml`` or ``rk_unet.toml`` of that folder plus ``--set`` overrides, so every model
can be retrained alone with ``restorekit train RUN/config.toml``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from restorekit.errors import RestorekitError
from restorekit.reproduce.context import RESUME_HINT, ReproContext, read_toml

CONFIG_DIR = Path(__file__).resolve().parents[1] / "experiments" / "memnet_restoration"
PLAN_FILE = CONFIG_DIR / "experiment.toml"
TASK_ORDER = ("denoise", "sr-nearest", "sr-bicubic", "jpeg", "combined")


@dataclass(frozen=True)
class Task:
    """One restoration task: what the models train on and how they are tested."""

    name: str
    label: str
    train: str  # degradation spec of the training patches
    tests: tuple[str, ...]  # degradation specs of the headline test
    test_set: str  # set12 | set5-y | classic5 | set5 (RGB)
    crop: int  # border ignored by PSNR/SSIM
    baselines: tuple[str, ...] = ()


@dataclass(frozen=True)
class Budget:
    """Everything a budget changes (tests build a tiny one with :func:`replace`)."""

    steps: int
    batch_size: int
    patch_size: int
    memnet: dict[str, int]
    ablation: tuple[tuple[int, int], ...]
    limits: dict[str, int]
    stress_limit: int
    cost_configs: tuple[tuple[int, int, int], ...]
    rgb: bool = True
    memnet_lr: float | None = None  # MemNet's Adam learning rate (None: memnet.toml's)
    log_interval: int = 10
    grid_crop: int = 96
    test_crop: int | None = None  # centre-crop test images to this size (smoke tests only)


@dataclass(frozen=True)
class Plan:
    """Tasks in the study's order, stress-test values, ablation and RGB settings, a budget."""

    tasks: dict[str, Task]
    stress: dict[str, Any]
    ablation: dict[str, Any]
    rgb: dict[str, Any]
    budget: Budget
    extra: dict[str, Any] = field(default_factory=dict)




def load_plan(budget: str, path: Path = PLAN_FILE, **overrides: Any) -> Plan:
    """The plan of ``budget`` from ``experiment.toml``; ``overrides`` replace budget fields."""
    data = read_toml(path)
    budgets = data.get("budgets", {})
    if budget not in budgets:
        raise RestorekitError(f"{path}: no budget {budget!r} (have {', '.join(budgets)})")
    fields = dict(budgets[budget])
    fields["ablation"] = tuple(tuple(int(v) for v in mr) for mr in fields.get("ablation", ()))
    fields["cost_configs"] = tuple(tuple(int(v) for v in c)
                                   for c in fields.get("cost_configs", ()))
    try:
        b = Budget(**fields)
    except TypeError as exc:
        raise RestorekitError(f"{path}: bad [budgets.{budget}]: {exc}") from None
    b = replace(b, **overrides)
    tasks = {}
    for name in TASK_ORDER:
        t = data.get("tasks", {}).get(name)
        if t is None:
            raise RestorekitError(f"{path}: missing [tasks.{name}]")
        tasks[name] = Task(name=name, label=t["label"], train=t["train"],
                           tests=tuple(t["tests"]), test_set=t["test_set"],
                           crop=int(t.get("crop", 0)), baselines=tuple(t.get("baselines", ())))
    plan = Plan(tasks=tasks, stress=data.get("stress", {}), ablation=data.get("ablation", {}),
                rgb=data.get("rgb", {}), budget=b)
    for section, key in (("ablation", "task"), ("rgb", "task")):
        if getattr(plan, section).get(key) not in tasks:
            raise RestorekitError(f"{path}: [{section}].{key} must name a task")
    return plan


@dataclass
class Run:
    """One finished training run: its weights (``ARCH@WEIGHTS`` for the evaluators) and log."""

    key: str
    label: str
    arch: str
    weights: Path
    out_dir: Path
    steps: int
    seconds: float
    params: int
    config: dict[str, Any]

    @property
    def method(self) -> str:
        return f"{self.arch}@{self.weights}"


def _count(net: Any) -> int:
    return int(sum(p.numel() for p in net.parameters()))


_SOURCES: dict[tuple[str, bool], Any] = {}


def _train_set(config: Any) -> Any:
    """The dataset ``restorekit train`` would build from ``config``, on an image source decoded
    once per process (a dozen runs share the same 291 images)."""
    from restorekit.data import make_source
    from restorekit.data.patches import PatchDataset

    d = config.data
    options = dict(d.options)
    fixed = options.pop("fixed", None)
    key = (str(d.root), bool(options.get("recursive", False)))
    if key not in _SOURCES:
        _SOURCES[key] = make_source(d.kind, d.root, split=d.split, **options)
    return PatchDataset(_SOURCES[key], patch_size=d.patch_size or None,
                        degradation=d.degradation or None, color=d.color,
                        augment=tuple(d.augment), seed=config.train.seed, length=d.length,
                        fixed=fixed)


def train_run(ctx: ReproContext, plan: Plan, key: str, label: str, toml: str,
              degradation: str, *, color: str = "y", model: dict[str, Any] | None = None,
              lr: float | None = None) -> Run:
    """Train ``toml`` on ``degradation`` in ``ctx.work/KEY-...`` (a finished run is reused, an
    interrupted one resumed) and return where its weights are."""
    from restorekit.train import train

    b = plan.budget
    root = ctx.dataset("bsd200_t91")
    tag = f"-lr{lr:g}" if lr is not None else ""
    # The folder also names what was trained (config text, damage, model changes), so an edited
    # config never reuses or resumes an older run.
    what = [(CONFIG_DIR / toml).read_text(encoding="utf-8"), degradation, color,
            repr(sorted((model or {}).items()))]
    digest = hashlib.sha256("\n".join(what).encode()).hexdigest()[:8]
    out = ctx.work / (f"{key}-{b.steps}x{b.batch_size}p{b.patch_size}{tag}-seed{ctx.seed}"
                      f"-{digest}")
    overrides = [f"name={key}", f"data.degradation={degradation}", f"data.root={root}",
                 f"data.color={color}", f"data.patch_size={b.patch_size}",
                 f"train.steps={b.steps}", f"train.batch_size={b.batch_size}",
                 f"train.seed={ctx.seed}", f"train.out_dir={out}", f"train.device={ctx.device}",
                 f"train.checkpoint_interval={max(1, min(500, b.steps))}",
                 f"train.log_interval={max(1, min(b.log_interval, b.steps))}"]
    overrides += [f"model.config.{k}={v}" for k, v in (model or {}).items()]
    if lr is not None:
        overrides.append(f"train.lr={lr}")
    config = ctx.load_config(CONFIG_DIR / toml, overrides)
    config.description = f"{label}: {degradation} ({color})"
    ctx.log(f"training {key} ({config.model.name}, {b.steps} steps) in {out}")
    resume = (out / "checkpoints" / "last.pt").is_file()
    result = train(config, resume=resume, quiet=ctx.quiet, train_set=_train_set(config),
                   resume_hint=RESUME_HINT)
    if result.interrupted or result.weights is None:
        raise RestorekitError(f"training of {key} stopped at step {result.step}; re-run the "
                              "same command to continue")
    return Run(key=key, label=label, arch=config.model.name, weights=result.weights,
               out_dir=out, steps=result.step, seconds=result.elapsed,
               params=_count(result.model), config=dict(config.model.config))


def memnet_config(plan: Plan, m: int | None = None, r: int | None = None) -> dict[str, int]:
    """The budget's MemNet config, with M and/or R replaced."""
    cfg = dict(plan.budget.memnet)
    if m is not None:
        cfg["num_memblocks"] = m
    if r is not None:
        cfg["num_resblocks"] = r
    return cfg


def depth(m: int, r: int) -> int:
    """MemNet's depth in convolutions, ``M (2R + 1) + 2`` (80 for M6R6)."""
    return m * (2 * r + 1) + 2


def step_seconds(m: int, r: int, channels: int, *, batch: int, patch: int, seed: int = 0,
                 timed: int = 1) -> tuple[float, int]:
    """Seconds per training step of an M/R/channels MemNet (multi-supervised loss, Adam) on a
    ``batch`` x 1 x ``patch``^2 batch, after one warm-up step; and its parameter count."""
    import torch

    from restorekit.nets.memnet import MemNet, multi_supervision_loss

    gen = torch.Generator().manual_seed(seed)
    net = MemNet(channels=channels, num_memblocks=m, num_resblocks=r)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    x = torch.rand(batch, 1, patch, patch, generator=gen)
    y = torch.rand(batch, 1, patch, patch, generator=gen)
    elapsed = 0.0
    for i in range(timed + 1):
        start = time.perf_counter()
        final, inter = net.forward_with_intermediates(x)
        loss = multi_supervision_loss(final, inter, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:
            elapsed += time.perf_counter() - start
    return elapsed / timed, _count(net)
