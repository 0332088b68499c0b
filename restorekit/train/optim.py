"""Optimizers (Adam, AdamW, SGD with momentum, Adadelta) and learning-rate schedules.

Schedules are a pure function of the optimizer step (``factor(step)``), so resuming cannot be
off by one: the trainer sets ``lr = base_lr * factor(step)`` before every step. Only the
plateau schedule has state (best metric, bad evaluations, current factor), which
``state_dict()`` returns for the checkpoint.

- constant: 1
- step: ``gamma ** (t // step_size)``
- multistep: ``gamma ** (number of milestones <= t)``
- cosine: from 1 down to ``min_lr / lr`` over the steps after warm-up
- plateau: multiply by ``factor`` when validation PSNR has not improved by ``threshold`` dB for
  ``patience`` evaluations (never below ``min_lr``)

``t`` counts steps after warm-up; during the ``warmup`` first steps the factor rises linearly
from ``1/warmup`` to 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from restorekit.errors import RestorekitError

__all__ = ["build_optimizer", "Schedule"]


def build_optimizer(params: Iterable[Any], name: str, *, lr: float,
                    betas: tuple[float, float] | list[float] = (0.9, 0.999),
                    momentum: float = 0.9, weight_decay: float = 0.0,
                    **options: Any) -> torch.optim.Optimizer:
    """The optimizer ``name`` (adam, adamw, sgd, adadelta) over ``params``."""
    key = name.lower()
    b = tuple(float(x) for x in betas)
    if key in ("adam", "adamw") and len(b) != 2:
        raise RestorekitError(f"train.betas needs two values, got {list(betas)}")
    try:
        if key == "adam":
            return torch.optim.Adam(params, lr=lr, betas=b, weight_decay=weight_decay, **options)
        if key == "adamw":
            return torch.optim.AdamW(params, lr=lr, betas=b, weight_decay=weight_decay,
                                     **options)
        if key == "sgd":
            return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                                   **options)
        if key == "adadelta":
            return torch.optim.Adadelta(params, lr=lr, weight_decay=weight_decay, **options)
    except TypeError as exc:
        raise RestorekitError(f"bad train.optimizer_options for {name!r}: {exc}") from None
    raise RestorekitError(f"unknown optimizer {name!r}; valid: adam, adamw, sgd, adadelta")


class Schedule:
    """A learning-rate factor per step, with linear warm-up; see the module doc."""

    _OPTIONS = {"constant": set(), "step": {"step_size", "gamma"},
                "multistep": {"milestones", "gamma"}, "cosine": {"min_lr"},
                "plateau": {"factor", "patience", "min_lr", "threshold"}}

    def __init__(self, name: str, *, base_lr: float, total_steps: int, warmup: int = 0,
                 **options: Any) -> None:
        self.name = name.lower()
        if self.name not in self._OPTIONS:
            raise RestorekitError(f"unknown schedule {name!r}; valid: "
                                  f"{', '.join(self._OPTIONS)}")
        unknown = set(options) - self._OPTIONS[self.name]
        if unknown:
            valid = ", ".join(sorted(self._OPTIONS[self.name])) or "none"
            raise RestorekitError(f"unknown train.schedule_options {sorted(unknown)} for "
                                  f"{self.name!r}; valid: {valid}")
        self.base_lr = base_lr
        self.total = total_steps
        self.warmup = warmup
        self.gamma = float(options.get("gamma", 0.1))
        self.step_size = int(options.get("step_size", max(total_steps // 3, 1)))
        self.milestones = sorted(int(m) for m in options.get("milestones", []))
        self.min_factor = float(options.get("min_lr", 0.0)) / base_lr
        self.plateau_factor = float(options.get("factor", 0.5))
        self.patience = int(options.get("patience", 3))
        self.threshold = float(options.get("threshold", 0.01))
        if self.step_size < 1:
            raise RestorekitError("schedule step_size must be >= 1")
        # Plateau state (the only state; checkpointed).
        self.current = 1.0
        self.best = -math.inf
        self.bad = 0

    def factor(self, step: int) -> float:
        """The multiplier of ``base_lr`` for the optimizer step ``step`` (0-based)."""
        if step < self.warmup:
            return (step + 1) / self.warmup
        t = step - self.warmup
        if self.name == "step":
            return self.gamma ** (t // self.step_size)
        if self.name == "multistep":
            return self.gamma ** sum(1 for m in self.milestones if m <= t)
        if self.name == "cosine":
            span = max(self.total - self.warmup, 1)
            progress = min(t / span, 1.0)
            return self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi *
                                                                               progress))
        if self.name == "plateau":
            return self.current
        return 1.0

    def lr(self, step: int) -> float:
        """The learning rate of step ``step``."""
        return self.base_lr * self.factor(step)

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> float:
        """Set every parameter group's lr for step ``step``; return it."""
        lr = self.lr(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    def observe(self, metric: float) -> None:
        """Feed a validation metric (higher is better); only the plateau schedule uses it."""
        if self.name != "plateau" or not math.isfinite(metric):
            return
        if metric > self.best + self.threshold:
            self.best, self.bad = metric, 0
            return
        self.bad += 1
        if self.bad >= self.patience:
            self.current = max(self.current * self.plateau_factor, self.min_factor)
            self.bad = 0

    def state_dict(self) -> dict[str, Any]:
        """The plateau state (plain floats/ints: loads with ``weights_only=True``)."""
        return {"name": self.name, "current": self.current, "best": self.best, "bad": self.bad}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (a different schedule name restarts the plateau state)."""
        if state.get("name") == self.name:
            self.current = float(state["current"])
            self.best = float(state["best"])
            self.bad = int(state["bad"])
