"""Task-driven fine-tuning: what learns, what stays frozen, that the loss falls, seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from restorekit.errors import RestorekitError
from restorekit.evaluate.downstream import new_classifier
from restorekit.nets.unet import RKUNet
from restorekit.train.task_driven import finetune_for_classifier

torch.set_num_threads(1)


def _digits(n: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two classes a classifier can learn in a few steps: a bright left or right half."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = np.full((n, 28, 28), 0.1, np.float32)
    for i, label in enumerate(labels):
        images[i, :, 14 * label:14 * label + 14] = 0.9
    return images, labels


def _pair(seed: int = 0) -> tuple[RKUNet, torch.nn.Module]:
    torch.manual_seed(seed)
    net = RKUNet(in_channels=1, out_channels=1, channels=(4, 8, 16), num_blocks=1,
                 noise_map=True)
    return net, new_classifier(seed)


def _params(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in module.parameters()])


def test_frozen_classifier_stays_fixed_and_the_denoiser_learns() -> None:
    images, labels = _digits()
    net, judge = _pair()
    before_net, before_judge = _params(net), _params(judge)
    losses = finetune_for_classifier(net, judge, images, labels, "gaussian:sigma=50,clip=true",
                                     steps=4, batch_size=8, ce_weight=0.1, sigma=50)
    assert len(losses) == 4 and all(np.isfinite(losses))
    assert not torch.equal(_params(net), before_net)
    assert torch.equal(_params(judge), before_judge)
    assert all(p.requires_grad for p in judge.parameters())  # restored for later training
    assert not net.training and not judge.training


def test_end_to_end_loss_falls_and_the_classifier_learns() -> None:
    images, labels = _digits()
    net, judge = _pair()
    before = _params(judge)
    losses = finetune_for_classifier(net, judge, images, labels, "gaussian:sigma=30,clip=true",
                                     steps=40, batch_size=16, lr=1e-3, classifier_lr=1e-3,
                                     mse_weight=0.0, ce_weight=1.0, train_classifier=True,
                                     sigma=30, seed=1)
    assert not torch.equal(_params(judge), before)
    assert np.mean(losses[-8:]) < 0.5 * np.mean(losses[:8])


def test_same_seed_same_run_other_seed_other_run() -> None:
    images, labels = _digits()
    runs = []
    for seed in (0, 0, 1):
        net, judge = _pair()
        runs.append(finetune_for_classifier(net, judge, images, labels,
                                            "gaussian:sigma=25,clip=true", steps=3,
                                            batch_size=8, ce_weight=0.05, sigma=25, seed=seed))
    assert runs[0] == runs[1] and runs[0] != runs[2]


@pytest.mark.parametrize("bad", [{"steps": -1}, {"batch_size": 0}, {"lr": 0.0},
                                 {"mse_weight": 0.0, "ce_weight": 0.0}, {"ce_weight": -1.0}])
def test_bad_settings_are_one_clear_error(bad: dict) -> None:
    images, labels = _digits(8)
    net, judge = _pair()
    options = {"steps": 1, **bad}
    with pytest.raises(RestorekitError):
        finetune_for_classifier(net, judge, images, labels, "gaussian:sigma=25", **options)
