"""The DSC paper's classifier (Zhao, Table 2) on a 64x64 labelled task, and pre-training from a
denoiser's convolutions.

Table 2: Conv-1..Conv-5 with the denoiser's encoder shapes (64x64x64, 32x32x64, 16x16x128,
8x8x256, 4x4x512; we use the same 3x3 kernels and strides as ``restorekit.nets.dsc``),
a fully-connected layer of 1024 (ReLU, dropout) and a 10-way softmax. The same network is the
perceptual-loss extractor (its FC-1024 output, Sec. 4.2) and the pre-training test (Sec. 4.3):
its convolutions start either at random or from a trained denoiser's Conv-1..Conv-5.

No labelled colour set is available offline, so the labelled task is MNIST: digits resized to
64x64 (bilinear) and repeated to RGB (:func:`mnist64`). The MNIST classifier of
``restorekit.evaluate.downstream`` is 28x28-specific; this module is its 64x64 counterpart.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from restorekit.errors import RestorekitError

__all__ = ["DscClassifier", "mnist64", "init_from_denoiser", "train_dsc_classifier",
           "accuracy", "encoder_stats", "new_classifier", "save_classifier", "load_classifier"]

_WIDTHS = (64, 64, 128, 256, 512)


class DscClassifier(nn.Module):
    """Zhao's Table 2 classifier: five ReLU convolutions (the denoiser's encoder), FC 1024, 10.

    ``fc`` is the 1024-d layer (ReLU applied in ``forward``; the perceptual loss hooks the
    module ``fc``, i.e. the features before dropout).
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, size: int = 64,
                 hidden: int = 1024, dropout: float = 0.5) -> None:
        super().__init__()
        if size % 16:
            raise RestorekitError(f"classifier input size must be a multiple of 16, got {size}")
        w = _WIDTHS
        self.convs = nn.ModuleList([nn.Conv2d(in_channels, w[0], 3, stride=1, padding=1)] + [
            nn.Conv2d(w[i - 1], w[i], 3, stride=2, padding=1) for i in range(1, 5)])
        self.fc = nn.Linear(w[4] * (size // 16) ** 2, hidden)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 1024-d FC features (after ReLU)."""
        for conv in self.convs:
            x = torch.relu(conv(x))
        return torch.relu(self.fc(x.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.drop(self.features(x)))


def new_classifier(seed: int) -> DscClassifier:
    """A seeded fresh classifier (the same weights for the same seed, whatever else ran)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return DscClassifier()


def init_from_denoiser(classifier: DscClassifier, denoiser: nn.Module) -> int:
    """Copy the denoiser's Conv-1..Conv-5 into the classifier; return how many were copied.

    A DSC net feeds Conv-(i+1) with ``delta_i * X_i`` (Eq. 1). The classifier has no gates, so
    each gate is folded into the weights it scales (``Conv(delta X, W) = Conv(X, delta W)``,
    biases unchanged): the copied layers compute exactly what they computed in the denoiser.
    """
    convs = getattr(denoiser, "convs", None)
    if convs is None or len(convs) != 5:
        raise RestorekitError(f"{type(denoiser).__name__} has no Conv-1..Conv-5 (`convs`) to "
                              "initialise the classifier from")
    scale = [1.0] * 5
    if getattr(denoiser, "dsc", False):
        deltas = [float(d) for d in denoiser.deltas().detach().cpu()]
        scale = [1.0] + deltas
    with torch.no_grad():
        for i, (src, dst) in enumerate(zip(convs, classifier.convs, strict=True)):
            if src.weight.shape != dst.weight.shape:
                raise RestorekitError(f"Conv-{i + 1}: denoiser {tuple(src.weight.shape)} vs "
                                      f"classifier {tuple(dst.weight.shape)}")
            dst.weight.copy_(src.weight * scale[i])
            dst.bias.copy_(src.bias)
    return 5


@torch.no_grad()
def encoder_stats(classifier: DscClassifier, x: torch.Tensor) -> list[dict[str, float]]:
    """Per conv layer: the fraction of zero ReLU outputs, their mean, and how much they depend
    on the input: ``variation`` is the mean over units of the standard deviation across the
    images of ``x``, divided by the mean output (scale-free).

    A layer whose outputs are the same for every image (variation ~ 0) passes nothing about
    the image on, whatever its weights came from.
    """
    rows = []
    h = x
    for i, conv in enumerate(classifier.convs):
        h = torch.relu(conv(h))
        mean = float(h.mean())
        spread = float(h.std(0).mean()) if len(h) > 1 else 0.0
        rows.append({"layer": f"Conv-{i + 1}", "zero_fraction": float((h == 0).float().mean()),
                     "mean": mean, "variation": spread / mean if mean > 0 else 0.0})
    return rows


def mnist64(images: np.ndarray, size: int = 64) -> torch.Tensor:
    """uint8 N x 28 x 28 digits -> float32 N x 3 x size x size in [0, 1] (bilinear, RGB)."""
    x = torch.from_numpy(np.asarray(images, np.float32) / np.float32(255))[:, None]
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.clamp_(0, 1).repeat(1, 3, 1, 1).contiguous()


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 100
             ) -> float:
    """Top-1 accuracy (0-100) in eval mode (the mode is restored)."""
    was = model.training
    model.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        correct += int((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
    model.train(was)
    return 100.0 * correct / max(len(x), 1)


def train_dsc_classifier(x: torch.Tensor, y: torch.Tensor, test_x: torch.Tensor,
                         test_y: torch.Tensor, *, epochs: int, seed: int, batch_size: int = 25,
                         lr: float = 1e-4, optimizer: str = "adam", evals_per_epoch: int = 4,
                         init_from: nn.Module | None = None,
                         progress: Callable[..., Any] | None = None
                         ) -> tuple[DscClassifier, list[dict[str, Any]]]:
    """Train a Table 2 classifier with cross-entropy; test accuracy through training.

    Everything but the optional ``init_from`` copy is fixed by ``seed`` (the FC layers' init,
    the data order, dropout), so two calls differ only in where the convolutions start. The
    history has one row per evaluation: ``iteration``, ``epoch`` (fractional), the mean
    training loss since the last row and the test accuracy; iteration 0 is the start.
    """
    if epochs < 1 or batch_size < 1 or lr <= 0 or evals_per_epoch < 1:
        raise RestorekitError("epochs, batch_size and evals_per_epoch must be >= 1, lr > 0")
    if len(x) == 0 or len(x) != len(y):
        raise RestorekitError(f"{len(x)} training images for {len(y)} labels")
    model = new_classifier(seed)
    if init_from is not None:
        init_from_denoiser(model, init_from)
    params = model.parameters()
    if optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(params, lr=lr)
    elif optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr)
    else:
        raise RestorekitError(f"classifier optimizer must be adam or sgd, not {optimizer!r}")
    steps = (len(x) + batch_size - 1) // batch_size
    marks = {round(steps * k / evals_per_epoch) for k in range(1, evals_per_epoch + 1)}
    rng = np.random.default_rng([seed, 7])
    history = [{"iteration": 0, "epoch": 0.0, "train_loss": float("nan"),
                "test_accuracy": accuracy(model, test_x, test_y)}]
    wrap = progress or (lambda it, **_: it)
    losses: list[float] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        model.train()
        for epoch in range(epochs):
            perm = torch.from_numpy(rng.permutation(len(x)))
            for s in wrap(range(steps), desc=f"classifier epoch {epoch + 1}/{epochs}",
                          leave=False):
                idx = perm[s * batch_size:(s + 1) * batch_size]
                loss = F.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
                if s + 1 in marks:
                    history.append({"iteration": epoch * steps + s + 1,
                                    "epoch": round(epoch + (s + 1) / steps, 3),
                                    "train_loss": float(np.mean(losses)),
                                    "test_accuracy": accuracy(model, test_x, test_y)})
                    losses = []
    model.eval()
    return model, history


def save_classifier(model: DscClassifier, path: str | Path) -> Path:
    """Write the classifier's weights as safetensors, atomically."""
    from safetensors.torch import save_file

    from restorekit.atomic import atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return atomic_write(path, lambda tmp: save_file(state, tmp,
                                                    metadata={"arch": "dsc-classifier/1"}))


def load_classifier(path: str | Path) -> DscClassifier:
    """Load weights written by :func:`save_classifier` (a clear error if they do not fit)."""
    from restorekit.weights import load_weights

    model = DscClassifier()
    load_weights(model, path)
    return model.eval()
