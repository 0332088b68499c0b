"""The training loop: config -> data -> net -> loss -> optimizer -> checkpoints -> zoo weights.

One :class:`Trainer` runs one experiment (:class:`~restorekit.train.config.ExperimentConfig`):

- step-based: ``train.steps`` optimizer steps over a seeded data order (epoch permutations from
  ``(seed, epoch)``), a tqdm bar (loss, lr, it/s, ETA) and ``out_dir/log.csv`` (step, epoch, loss,
  lr, seconds, val_psnr, val_ssim), plus TensorBoard when it is installed;
- device-agnostic (``--device``/``train.device``), AMP (bf16/fp16 autocast, GradScaler for fp16)
  on CUDA only, DDP under ``torchrun`` (see :mod:`restorekit.train.distributed`);
- validation PSNR/SSIM on whole images every ``val_interval`` steps and at the end;
- ``out_dir/checkpoints/last.pt`` every ``checkpoint_interval`` steps, at the end and when
  interrupted (SIGINT/SIGTERM: the current step finishes, a checkpoint is written, the run
  stops); ``best.pt`` whenever validation PSNR improves. Resuming restores everything (see
  :mod:`restorekit.train.checkpoint`), so N steps equal k steps + resume + N - k steps bit for
  bit on CPU;
- at the last step the weights go to ``out_dir/NAME.safetensors`` with a model card (config,
  data, steps, wall time, final validation PSNR/SSIM).
"""

from __future__ import annotations

import copy
import csv
import inspect
import io
import math
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from restorekit.atomic import atomic_write_text
from restorekit.errors import RestorekitError
from restorekit.train import distributed as D
from restorekit.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from restorekit.train.config import (
    ExperimentConfig,
    config_to_dict,
    data_dir,
    resolve_paths,
    save_config,
)
from restorekit.train.losses import build_loss, l2_penalty
from restorekit.train.optim import Schedule, build_optimizer
from restorekit.weights import card_path

__all__ = ["Trainer", "TrainResult", "train", "build_datasets", "LOG_FIELDS"]

LOG_FIELDS = ["step", "epoch", "loss", "lr", "seconds", "val_psnr", "val_ssim"]
_CHANNELS = {"gray": 1, "y": 1, "rgb": 3}

Callback = Callable[["Trainer", int], None]


@dataclass
class TrainResult:
    """What a run did: the step reached, whether it was interrupted, where things are."""

    step: int
    total_steps: int
    out_dir: Path
    interrupted: bool = False
    signal: int | None = None
    weights: Path | None = None
    val: dict[str, float] = field(default_factory=dict)
    best_psnr: float | None = None
    elapsed: float = 0.0
    model: Any = None  # the trained (unwrapped) nn.Module

    @property
    def exit_code(self) -> int:
        """0 when finished, 128 + signal number when stopped by a signal, else 1."""
        if not self.interrupted:
            return 0
        return 128 + self.signal if self.signal else 1


def build_datasets(config: ExperimentConfig) -> tuple[Any, Any]:
    """The training and validation datasets of ``config`` (validation None without val_root)."""
    try:
        from restorekit.data import make_dataset
    except ImportError as exc:  # pragma: no cover - the data package is part of restorekit
        raise RestorekitError(f"restorekit.data is not available: {exc}") from None
    d, seed = config.data, config.train.seed
    train_set = make_dataset(d.kind, d.train_roots, split=d.split, patch_size=d.patch_size or None,
                             degradation=d.degradation or None, color=d.color,
                             augment=tuple(d.augment), seed=seed, length=d.length, **d.options)
    val_set = None
    if d.val_root:
        val_set = make_dataset(d.val_kind or d.kind, d.val_root, split=d.val_split,
                               patch_size=None,
                               degradation=(d.val_degradation or d.degradation) or None,
                               color=d.color, augment=(), seed=seed, length=d.val_length,
                               **d.options)
    return train_set, val_set


def _ignore_signals_in_worker(_worker_id: int) -> None:
    """DataLoader workers leave SIGINT/SIGTERM to the main process, which saves a checkpoint."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


class _Forward(nn.Module):
    """What DDP wraps: the net called the way the loss needs (sigma, intermediates)."""

    def __init__(self, net: nn.Module, *, intermediates: bool, sigma: bool) -> None:
        super().__init__()
        self.net, self.intermediates, self.sigma = net, intermediates, sigma

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | None = None) -> Any:
        if self.intermediates:
            return self.net.forward_with_intermediates(x)
        return self.net(x, sigma) if self.sigma else self.net(x)


class _CsvLog:
    """``log.csv``, cut back to the checkpoint's step on resume so no step appears twice."""

    def __init__(self, path: Path, *, resume_step: int | None) -> None:
        self.path = path
        rows: list[dict[str, str]] = []
        if resume_step is not None and path.is_file():
            with open(path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if _as_int(r.get("step")) <= resume_step]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, LOG_FIELDS, extrasaction="ignore", lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(path, buf.getvalue())  # a kill here must not lose the earlier rows

    def write(self, row: dict[str, Any]) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, LOG_FIELDS, extrasaction="ignore").writerow(
                {k: _fmt(row.get(k)) for k in LOG_FIELDS})


def _as_int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


class Trainer:
    """Runs one experiment; see the module doc. Use :func:`train` for the one-call form.

    ``train_set``/``val_set`` replace the datasets built from ``config.data`` (any map-style
    dataset of ``{"input", "target"[, "sigma"]}`` dicts). ``callbacks`` are called as
    ``cb(trainer, step)`` after every step on every rank. ``log`` receives status lines
    (default: stderr, silent when ``quiet``); only rank 0 prints.
    """

    def __init__(self, config: ExperimentConfig, *, resume: bool = False,
                 device: str | None = None, quiet: bool = False, train_set: Any = None,
                 val_set: Any = None, callbacks: Sequence[Callback] = (),
                 log: Callable[[str], None] | None = None, config_format: str = "toml",
                 resume_hint: str = "continue with --resume") -> None:
        self.config = resolve_paths(copy.deepcopy(config))
        self.config.validate()
        self.resume = resume
        self.device_name = device or self.config.train.device
        self.quiet = quiet
        self.train_set, self.val_set = train_set, val_set
        self.callbacks = list(callbacks)
        self._log_fn = log
        self.config_format = config_format
        self.resume_hint = resume_hint  # said when a run stops early (reproduce says its own)
        self.step = 0
        self.epoch = 0
        self.position = 0
        self.best_psnr = -math.inf
        self.best_step = 0
        self.last_val: dict[str, float] = {}
        self.prior_elapsed = 0.0
        self._loss_sum = torch.zeros(())  # losses since the last log row (checkpointed)
        self._loss_count = 0
        self._signal: int | None = None
        self._said: set[str] = set()

    # ------------------------------------------------------------------ small helpers

    @property
    def out_dir(self) -> Path:
        return Path(self.config.train.out_dir)

    @property
    def checkpoint_path(self) -> Path:
        """``out_dir/checkpoints/last.pt``: what ``--resume`` continues from."""
        return self.out_dir / "checkpoints" / "last.pt"

    def status(self, message: str, *, once: bool = False) -> None:
        """A status line from rank 0 (through ``log``, or tqdm-safe stderr unless quiet)."""
        if not getattr(self, "info", D.DistInfo()).is_main:
            return
        if once:
            if message in self._said:
                return
            self._said.add(message)
        if self._log_fn is not None:
            self._log_fn(message)
        elif not self.quiet:
            from tqdm import tqdm

            tqdm.write(message, file=sys.stderr)

    def request_stop(self, signum: int | None = None) -> None:
        """Ask the loop to stop after the current step (and save a checkpoint)."""
        self._signal = signum if signum is not None else 0

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self._signal is not None:  # a second signal: stop at once
            raise KeyboardInterrupt
        self._signal = signum

    # ------------------------------------------------------------------ set-up

    def _setup(self) -> None:
        cfg = self.config
        t = cfg.train
        from restorekit.device import resolve_device

        if t.threads:
            torch.set_num_threads(t.threads)
        self.info, self.device, _ = D.init_distributed(
            resolve_device(self.device_name))
        if t.batch_size % self.info.world:
            raise RestorekitError(f"train.batch_size {t.batch_size} (the global batch) must be "
                                  f"divisible by the {self.info.world} processes")
        self.batch_per_rank = t.batch_size // self.info.world
        # Collectives run on CPU tensors with gloo, on the GPU with NCCL.
        self._comm_device = self.device if self.device.type == "cuda" else None

        blocking = next((p for p in (self.out_dir, *self.out_dir.parents) if p.is_file()), None)
        if blocking is not None:
            raise RestorekitError(f"train.out_dir {self.out_dir}: {blocking} is a file, "
                                  "not a folder")
        self.ckpt: dict[str, Any] | None = None
        if self.checkpoint_path.is_file():
            if not self.resume:
                raise RestorekitError(
                    f"{self.out_dir} already holds a run (checkpoint {self.checkpoint_path}); "
                    "pass --resume to continue it, or choose another train.out_dir")
            self.ckpt = load_checkpoint(self.checkpoint_path, map_location=self.device)
        elif self.resume:
            self.status(f"no checkpoint in {self.out_dir}; starting from step 0")

        random.seed(t.seed)
        np.random.seed(t.seed % 2**32)
        torch.manual_seed(t.seed)
        if self.train_set is None:
            self.train_set, built_val = build_datasets(cfg)
            if self.val_set is None:
                self.val_set = built_val
        if not hasattr(self.train_set, "__len__"):
            raise RestorekitError("the training set must be a map-style dataset with a length")
        if self._val_is_train():
            self.status("warning: the validation folder is one of the training folders; its "
                        "scores measure fit, not generalisation")

        self.net = self._build_net()
        if t.init_weights and self.ckpt is None:
            self._load_init_weights(t.init_weights)
        self.net = self.net.to(self.device)
        self._loss_sum = self._loss_sum.to(self.device)
        self.loss_fn = build_loss(t.loss, **t.loss_options).to(self.device)
        intermediates = bool(getattr(self.loss_fn, "needs_intermediates", False))
        if intermediates and not hasattr(self.net, "forward_with_intermediates"):
            raise RestorekitError(f"loss {t.loss!r} needs a net with forward_with_intermediates"
                                  f" (such as memnet); {cfg.model.name!r} has none")
        self.uses_sigma = bool(getattr(self.net, "accepts_sigma", False)) and not intermediates
        self.ema_net = None
        if t.ema:
            self.ema_net = copy.deepcopy(self.net).eval()
            for p in self.ema_net.parameters():
                p.requires_grad_(False)
        self.optimizer = build_optimizer(
            [p for p in self.net.parameters() if p.requires_grad], t.optimizer, lr=t.lr,
            betas=t.betas, momentum=t.momentum, weight_decay=t.weight_decay,
            **t.optimizer_options)
        self.schedule = Schedule(t.schedule, base_lr=t.lr, total_steps=t.steps,
                                 warmup=t.warmup, **t.schedule_options)
        self.amp_dtype = self._amp_dtype()
        self.scaler = (torch.amp.GradScaler(self.device.type)
                       if self.amp_dtype == torch.float16 else None)
        forward = _Forward(self.net, intermediates=intermediates, sigma=self.uses_sigma)
        if self.info.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            forward = DDP(forward, device_ids=ids)
        self.forward = forward

        if self.ckpt is not None:
            self._restore(self.ckpt)
        else:  # per-rank streams for dropout etc.; the model init above used the shared seed
            seed = D.mix_seed(t.seed, 1, self.info.rank)
            random.seed(seed)
            np.random.seed(seed % 2**32)
            torch.manual_seed(seed)

    def _build_net(self) -> nn.Module:
        from restorekit.restorers.base import build_net, get_entry

        model = self.config.model
        entry = get_entry(model.name)
        if entry.kind != "network":
            raise RestorekitError(f"model.name {model.name!r} is a classical method; "
                                  "only networks can be trained")
        params = inspect.signature(entry.factory).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            valid = [n for n, p in params.items() if p.kind is not p.VAR_POSITIONAL]
            for key in model.config:
                if key not in valid:
                    raise RestorekitError(f"unknown config key 'model.config.{key}' for network"
                                          f" {model.name!r}; valid keys: {', '.join(valid)}")
            channels = _CHANNELS.get(self.config.data.color)
            for key in ("in_channels", "out_channels"):  # follow data.color unless given
                if channels and key in valid and key not in model.config:
                    model.config[key] = channels
        return build_net(model.name, **model.config)

    def _load_init_weights(self, source: str) -> None:
        """Start from ``source``: a shipped model's name or a weights file (sha256-checked
        against its card when it has one)."""
        import restorekit.zoo as zoo
        from restorekit.weights import load_weights, read_card

        if source in zoo.zoo_models():
            model = zoo.get_zoo_model(source)
            path, sha256 = model.weights, model.card.get("sha256")
        else:
            path = Path(source)
            card = read_card(path) if path.is_file() else None
            sha256 = card.get("sha256") if card else None
        t = self.config.train
        kept = load_weights(self.net, path, sha256=sha256, grow=t.init_grow,
                            partial=t.init_partial)
        how = " (grown)" if t.init_grow else ""
        if kept:
            more = f" (+{len(kept) - 3} more)" if len(kept) > 3 else ""
            how = f" except {len(kept)} tensor(s) left at their init: {', '.join(kept[:3])}{more}"
        self.status(f"initialised from {source}{how}")

    def _amp_dtype(self) -> torch.dtype | None:
        """Autocast dtype: ``auto`` = bf16 (else fp16) on CUDA, float32 elsewhere (fastest on
        most CPUs); ``bf16``/``fp16`` are honoured on CUDA and CPU (fp16 with a GradScaler)."""
        mode = self.config.train.amp.lower()
        if mode == "off":
            return None
        dev = self.device.type
        if mode == "auto":
            if dev != "cuda":
                return None
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if dev not in ("cuda", "cpu"):
            self.status(f"train.amp={mode} applies on CUDA and CPU; training in float32 on "
                        f"{dev}", once=True)
            return None
        return torch.bfloat16 if mode == "bf16" else torch.float16

    def _val_is_train(self) -> bool:
        """Whether the validation folder is one of the training folders (folder kinds)."""
        from restorekit.data import source_folder

        d = self.config.data
        if not d.val_root:
            return False
        val = source_folder(d.val_kind or d.kind, d.val_root, d.val_split)
        train = {source_folder(d.kind, r, d.split) for r in d.train_roots}
        return val is not None and val.resolve() in {t.resolve() for t in train if t}

    def _restore(self, ckpt: dict[str, Any]) -> None:
        try:
            self.net.load_state_dict(ckpt["model"])
        except RuntimeError:
            model = self.config.model
            was = (ckpt.get("config") or {}).get("model") or {}
            raise RestorekitError(
                f"the checkpoint in {self.config.train.out_dir} was written for another model "
                f"({was.get('name', '?')} {was.get('config', {})}, this config: {model.name} "
                f"{model.config}); resume with its config or choose another train.out_dir"
            ) from None
        if self.ema_net is not None:
            self.ema_net.load_state_dict(ckpt["ema"] if ckpt.get("ema") else ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.schedule.load_state_dict(ckpt.get("schedule") or {})
        if self.scaler is not None and ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.step = int(ckpt["step"])
        if self.step > self.config.train.steps:
            raise RestorekitError(
                f"the checkpoint in {self.config.train.out_dir} is at step {self.step}, past "
                f"train.steps = {self.config.train.steps}; resume with train.steps >= "
                f"{self.step} (e.g. --set train.steps={self.step})")
        self.epoch = int(ckpt["data"]["epoch"])
        self.position = int(ckpt["data"]["position"])
        old_global = int(ckpt["data"].get("global_batch", self.config.train.batch_size))
        if old_global != self.config.train.batch_size:
            self.position = self.position * old_global // self.config.train.batch_size
            self.status("the global batch size changed since the checkpoint; the data order "
                        "continues approximately")
        self.best_psnr = float(ckpt["best"]["psnr"])
        self.best_step = int(ckpt["best"]["step"])
        self.last_val = dict(ckpt.get("val") or {})
        self.prior_elapsed = float(ckpt.get("elapsed", 0.0))
        rngs = ckpt["rng"]
        if len(rngs) == self.info.world:
            set_rng_state(rngs[self.info.rank])
            acc = (ckpt.get("loss_acc") or [None] * self.info.world)[self.info.rank]
            if acc is not None:
                self._loss_sum = acc["sum"].to(self.device)
                self._loss_count = int(acc["count"])
        else:
            self.status(f"checkpoint was written by {len(rngs)} processes, this run has "
                        f"{self.info.world}: random streams are reseeded (not bit-exact)")
            torch.manual_seed(D.mix_seed(self.config.train.seed, 2, self.step, self.info.rank))
        changed = _diff(ckpt.get("config") or {}, config_to_dict(self.config))
        if changed:
            self.status("config differs from the checkpoint's: " + ", ".join(changed[:8]) +
                        (" ..." if len(changed) > 8 else ""))
        self.status(f"resumed from {self.checkpoint_path} at step {self.step}")

    # ------------------------------------------------------------------ data

    def _loader(self) -> Any:
        from torch.utils.data import DataLoader

        if hasattr(self.train_set, "set_epoch"):
            self.train_set.set_epoch(self.epoch)
        sampler = D.SeededBatches(len(self.train_set), self.batch_per_rank,
                                  seed=self.config.train.seed, epoch=self.epoch,
                                  start=self.position, rank=self.info.rank, world=self.info.world)
        workers = self.config.data.workers
        # An explicit generator: creating an iterator must not draw from the global RNG
        # (which would shift dropout etc. between a resumed and an uninterrupted run).
        gen = torch.Generator().manual_seed(D.mix_seed(self.config.train.seed, self.epoch,
                                                       self.position, self.info.rank))
        return DataLoader(self.train_set, batch_sampler=sampler, num_workers=workers,
                          generator=gen, pin_memory=self.device.type == "cuda",
                          worker_init_fn=_ignore_signals_in_worker if workers else None)

    def _batch(self, sample: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, Any]:
        x = sample["input"].to(self.device, non_blocking=True).float()
        y = sample["target"].to(self.device, non_blocking=True).float()
        sigma = sample.get("sigma") if self.uses_sigma else None
        if sigma is not None:
            sigma = torch.as_tensor(sigma).to(self.device).float().reshape(-1)
        return x, y, sigma

    def _autocast(self) -> Any:
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    # ------------------------------------------------------------------ steps

    def _train_step(self, sample: dict[str, Any]) -> torch.Tensor:
        t = self.config.train
        x, y, sigma = self._batch(sample)
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            out = self.forward(x, sigma)
            loss = self.loss_fn(out, y)
            if t.l2_penalty:
                loss = loss + t.l2_penalty * l2_penalty(self.net)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if t.grad_clip:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.net.parameters(), t.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            if t.grad_clip:
                nn.utils.clip_grad_norm_(self.net.parameters(), t.grad_clip)
            self.optimizer.step()
        if self.ema_net is not None:
            self._update_ema(t.ema)
        return loss.detach()

    @torch.no_grad()
    def _update_ema(self, decay: float) -> None:
        for e, p in zip(self.ema_net.parameters(), self.net.parameters(), strict=True):
            e.lerp_(p.detach(), 1.0 - decay)
        for e, b in zip(self.ema_net.buffers(), self.net.buffers(), strict=True):
            e.copy_(b)

    @property
    def eval_net(self) -> nn.Module:
        """The weights validated and exported: the EMA copy when ``train.ema`` is set."""
        return self.ema_net if self.ema_net is not None else self.net

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean PSNR/SSIM of the eval net over the validation set (whole images, batch 1)."""
        from torch.utils.data import DataLoader

        from restorekit.metrics import psnr_torch, ssim_torch

        net = self.eval_net
        was_training = net.training
        net.eval()
        psnrs: list[float] = []
        ssims: list[float] = []
        loader = DataLoader(self.val_set, batch_size=1, shuffle=False,
                            num_workers=min(self.config.data.workers, 2))
        try:
            for sample in loader:
                x, y, sigma = self._batch(sample)
                with self._autocast():
                    out = net(x, sigma) if self.uses_sigma else net(x)
                out = out.float().clamp(0, 1)
                psnrs.append(float(psnr_torch(out, y)[0]))
                if min(y.shape[-2:]) >= 11:
                    ssims.append(float(ssim_torch(out, y)[0]))
        finally:
            net.train(was_training)
        return {"psnr": float(np.mean(psnrs)) if psnrs else math.nan,
                "ssim": float(np.mean(ssims)) if ssims else math.nan,
                "images": float(len(psnrs))}

    # ------------------------------------------------------------------ checkpoints / export

    def _checkpoint_state(self, elapsed: float) -> dict[str, Any]:
        D.broadcast_buffers(self.net)  # replicas equal to what rank 0 saves
        return {
            "step": self.step,
            "elapsed": elapsed,
            "model": self.net.state_dict(),
            "ema": self.ema_net.state_dict() if self.ema_net is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
            # Every rank calls: one entry per rank (RNG streams, the loss not yet logged).
            "rng": D.all_gather_object(rng_state()),
            "loss_acc": D.all_gather_object({"sum": self._loss_sum.detach().cpu(),
                                             "count": self._loss_count}),
            "data": {"epoch": self.epoch, "position": self.position,
                     "global_batch": self.config.train.batch_size},
            "best": {"psnr": self.best_psnr, "step": self.best_step},
            "val": dict(self.last_val),
            "config": config_to_dict(self.config),
            "world_size": self.info.world,
        }

    def save_checkpoint(self, name: str, elapsed: float) -> Path | None:
        """Write ``checkpoints/NAME.pt`` (rank 0 writes; every rank must call)."""
        state = self._checkpoint_state(elapsed)
        path = self.out_dir / "checkpoints" / f"{name}.pt"
        if self.info.is_main:
            save_checkpoint(path, state)
        return path

    def export(self, elapsed: float) -> Path:
        """Write the eval net as ``out_dir/NAME.safetensors`` plus its model card (rank 0)."""
        from restorekit.data import source_name
        from restorekit.data.licence import data_licence
        from restorekit.weights import save_weights

        cfg, d = self.config, self.config.data
        portable = _portable(config_to_dict(cfg))
        card = {
            "name": cfg.name,
            "description": cfg.description,
            "trained_with": "restorekit train",
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "steps": self.step,
            "wall_seconds": round(elapsed, 1),
            "ema": bool(cfg.train.ema),
            "data": {
                "train": " + ".join(source_name(d.kind, r, d.split) for r in d.train_roots),
                "val": (source_name(d.val_kind or d.kind, d.val_root, d.val_split)
                        + (" (training images too)" if self._val_is_train() else ""))
                if d.val_root else None,
                "degradation": d.degradation,
                "val_degradation": d.val_degradation or d.degradation,
                "color": d.color,
                "patch_size": d.patch_size,
                "licence": d.licence or data_licence(d.train_roots),
            },
            "val": {k: v for k, v in self.last_val.items() if math.isfinite(v)},
            "training": portable,
        }
        path = self.out_dir / f"{cfg.name}.safetensors"
        return save_weights(self.eval_net, path, arch=cfg.model.name,
                            config=_jsonable(cfg.model.config), card=card)

    # ------------------------------------------------------------------ the loop

    def run(self, stop_at: int | None = None) -> TrainResult:
        """Train to ``train.steps`` (or pause after ``stop_at`` steps); return what happened."""
        self._setup()
        return self._run(stop_at)

    def _run(self, stop_at: int | None) -> TrainResult:
        cfg, t = self.config, self.config.train
        main = self.info.is_main
        if main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.out_dir, fmt=self.config_format)
        csv_log = (_CsvLog(self.out_dir / "log.csv",
                           resume_step=self.step if self.ckpt is not None else None)
                   if main else None)
        tb = self._tensorboard() if main and t.tensorboard else None
        prior = self.prior_elapsed
        total = t.steps
        target = min(total, stop_at) if stop_at is not None else total
        weights = self.out_dir / f"{cfg.name}.safetensors"
        if self.step >= total:
            self.status(f"already trained to step {self.step} (train.steps={total})")

        handlers = self._install_signals()
        from tqdm import tqdm

        bar = tqdm(total=total, initial=min(self.step, total), unit="step", file=sys.stderr,
                   dynamic_ncols=True, disable=self.quiet or not main, desc=cfg.name)
        start = time.perf_counter()
        it = None
        self.forward.train()
        try:
            while self.step < target:
                if it is None:
                    loader = self._loader()
                    if len(loader.batch_sampler) == 0:
                        self.epoch, self.position = self.epoch + 1, 0
                        continue
                    it = iter(loader)
                try:
                    sample = next(it)
                except StopIteration:
                    it = None
                    self.epoch, self.position = self.epoch + 1, 0
                    continue
                except Exception:
                    if self._signal is None or self.info.distributed:
                        raise
                    # A worker died of the same signal: save where we are (the batch it was
                    # loading was not consumed, so the position is right).
                    self.save_checkpoint("last", prior + time.perf_counter() - start)
                    break
                lr = self.schedule.apply(self.optimizer, self.step)
                self._loss_sum += self._train_step(sample)
                self._loss_count += 1
                self.step += 1
                self.position += 1
                bar.update(1)
                for cb in self.callbacks:
                    cb(self, self.step)

                paused = self.step >= target and target < total  # stop_at reached
                stop = D.any_flag(self._signal is not None or paused, self._comm_device)
                last = self.step >= total
                elapsed = prior + time.perf_counter() - start
                row: dict[str, Any] = {}
                if self.step % t.log_interval == 0 or last:
                    loss = D.mean_value(float(self._loss_sum) / max(self._loss_count, 1),
                                        self._comm_device)
                    self._loss_sum.zero_()
                    self._loss_count = 0
                    if not math.isfinite(loss) and self.scaler is None:
                        raise RestorekitError(f"the loss became {loss} at step {self.step}; "
                                              "lower train.lr or set train.grad_clip")
                    row.update(loss=loss, lr=lr)
                    bar.set_postfix(loss=f"{loss:.4g}", lr=f"{lr:.3g}", refresh=False)
                if self.val_set is not None and (
                        last or (t.val_interval and self.step % t.val_interval == 0)):
                    self._validate_and_track(elapsed)
                    row.update(val_psnr=self.last_val.get("psnr"),
                               val_ssim=self.last_val.get("ssim"))
                if row and main:
                    row.update(step=self.step, epoch=self.epoch, seconds=round(elapsed, 3))
                    csv_log.write(row)
                    if tb is not None:
                        for key in ("loss", "lr", "val_psnr", "val_ssim"):
                            if row.get(key) is not None:
                                tb.add_scalar(key.replace("val_", "val/"), row[key], self.step)
                if (last or stop or (t.checkpoint_interval
                                     and self.step % t.checkpoint_interval == 0)):
                    self.save_checkpoint("last", elapsed)
                if last and main:
                    weights = self.export(elapsed)
                if stop:
                    break
            else:
                if self.step >= total and main and not (weights.is_file()
                                                        and card_path(weights).is_file()):
                    weights = self.export(prior)
        finally:
            bar.close()
            self._restore_signals(handlers)
            if tb is not None:
                tb.close()
        D.broadcast_buffers(self.net)
        D.barrier()

        elapsed = prior + time.perf_counter() - start
        interrupted = self.step < total
        if interrupted and main:
            why = (f"stopped by signal {signal.Signals(self._signal).name}"
                   if self._signal else "paused")
            self.status(f"{why} at step {self.step}; checkpoint {self.checkpoint_path} "
                        f"({self.resume_hint})")
        elif main:
            self.status(f"done: {self.step} steps in {elapsed:.1f}s; weights {weights}")
        return TrainResult(step=self.step, total_steps=total, out_dir=self.out_dir,
                           interrupted=interrupted, signal=self._signal or None,
                           weights=weights if weights.is_file() else None,
                           val=dict(self.last_val),
                           best_psnr=self.best_psnr if math.isfinite(self.best_psnr) else None,
                           elapsed=elapsed, model=self.net)

    def _validate_and_track(self, elapsed: float) -> None:
        metrics = self.validate() if self.info.is_main else None
        self.last_val = D.broadcast_object(metrics)
        psnr = self.last_val.get("psnr", math.nan)
        self.schedule.observe(psnr)
        self.status(f"step {self.step}: val PSNR {psnr:.3f} dB, SSIM "
                    f"{self.last_val.get('ssim', math.nan):.4f}")
        if math.isfinite(psnr) and psnr > self.best_psnr:
            self.best_psnr, self.best_step = psnr, self.step
            self.save_checkpoint("best", elapsed)

    def _tensorboard(self) -> Any:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.status("TensorBoard is not installed; logging to log.csv only", once=True)
            return None
        return SummaryWriter(str(self.out_dir / "tensorboard"))

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        return {sig: signal.signal(sig, self._on_signal)
                for sig in (signal.SIGINT, signal.SIGTERM)}

    @staticmethod
    def _restore_signals(handlers: dict[int, Any]) -> None:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def train(config: ExperimentConfig, *, resume: bool = False, device: str | None = None,
          quiet: bool = False, stop_at: int | None = None, **kwargs: Any) -> TrainResult:
    """Train ``config`` (see :class:`Trainer` for the keyword arguments)."""
    return Trainer(config, resume=resume, device=device, quiet=quiet, **kwargs).run(stop_at)


def _diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        where = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            out += _diff(a, b, where + ".")
        elif a != b:
            out.append(where)
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _portable(config: dict[str, Any]) -> dict[str, Any]:
    """The config for a model card: the data folder written back as ``${RESTOREKIT_DATA}``."""
    base = data_dir().rstrip("/")
    data = dict(config.get("data", {}))
    for key in ("root", "val_root"):
        value = data.get(key)
        if isinstance(value, str) and value.startswith(base):
            data[key] = "${RESTOREKIT_DATA}" + value[len(base):]
    return _jsonable({**config, "data": data})
