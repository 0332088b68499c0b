"""Fine-tune a denoiser for a downstream classifier (task-driven denoising).

Liu, Wen, Fan, Loy, Huang, *When Image Denoising Meets High-Level Vision Tasks: A Deep Learning
Approach*, IJCAI 2018, Eq. 3: the denoiser's loss is its reconstruction loss plus ``weight``
times the cross-entropy of a classifier reading its output,

    L = mse_weight * MSE(D(y), x) + ce_weight * CE(C(D(y)), label).

With ``train_classifier=False`` the classifier is frozen (the paper's setting: the judge is
fixed, only the denoiser learns what the judge needs). With ``train_classifier=True`` both learn
together, end to end: denoiser plus classifier then form one classifier of the damaged image,
the reference for what any restore-then-classify pipeline can reach on that damage.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from restorekit.errors import RestorekitError
from restorekit.evaluate.downstream import _as_batch, _as_labels, _device


def finetune_for_classifier(denoiser: nn.Module, classifier: nn.Module, images: Any, labels: Any,
                            degradation: Any, *, steps: int, batch_size: int = 100,
                            lr: float = 1e-4, mse_weight: float = 1.0, ce_weight: float = 0.0,
                            train_classifier: bool = False, classifier_lr: float = 5e-4,
                            sigma: float | None = None, seed: int = 0, device: Any = None,
                            quiet: bool = True) -> list[float]:
    """Fine-tune ``denoiser`` in place on clean ``images`` (N x H x W in [0, 1]) with their
    ``labels``, damaged afresh every batch by ``degradation`` (a spec string or object, seeded).

    ``sigma`` (0-255) feeds the noise map of nets with ``accepts_sigma``. Adam with a cosine
    decay to zero over ``steps``. The classifier stays frozen unless ``train_classifier`` (then
    it learns at ``classifier_lr``). Both modules end in eval mode. Returns the loss per step.
    """
    from tqdm import tqdm

    from restorekit.degrade import parse_spec

    if steps < 0 or batch_size < 1 or lr <= 0 or classifier_lr <= 0:
        raise RestorekitError("steps must be >= 0, batch_size >= 1 and the learning rates > 0")
    if mse_weight < 0 or ce_weight < 0 or mse_weight + ce_weight == 0:
        raise RestorekitError("mse_weight and ce_weight must be >= 0, not both 0")
    x = _as_batch(images)
    y = _as_labels(labels, len(x))
    dev = _device(device)
    damage = parse_spec(degradation)
    denoiser.to(dev).train()
    classifier.to(dev)
    classifier.train(train_classifier)
    for p in classifier.parameters():
        p.requires_grad_(train_classifier)
    groups = [{"params": [p for p in denoiser.parameters() if p.requires_grad], "lr": lr}]
    if train_classifier:
        groups.append({"params": list(classifier.parameters()), "lr": classifier_lr})
    opt = torch.optim.Adam(groups)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, [lambda s: 0.5 * (1 + np.cos(np.pi * s / max(steps, 1)))] * len(groups))
    rng = np.random.default_rng([seed, 3])
    takes_sigma = bool(getattr(denoiser, "accepts_sigma", False))
    level = None if sigma is None else sigma / 255.0
    losses: list[float] = []
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 3)
            for _ in tqdm(range(steps), disable=quiet, desc="task-driven fine-tune",
                          dynamic_ncols=True, leave=False):
                idx = torch.from_numpy(rng.integers(0, len(x), batch_size))
                clean = x[idx]
                damaged, _ = damage(clean, rng=rng)
                clean, damaged, target = clean.to(dev), damaged.to(dev), y[idx].to(dev)
                out = denoiser(damaged, level) if takes_sigma else denoiser(damaged)
                loss = mse_weight * F.mse_loss(out, clean) if mse_weight else 0.0
                if ce_weight:
                    loss = loss + ce_weight * F.cross_entropy(classifier(out.clamp(0, 1)),
                                                              target)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                losses.append(float(loss.detach()))
    finally:
        for p in classifier.parameters():
            p.requires_grad_(True)
        denoiser.eval()
        classifier.eval()
    return losses
