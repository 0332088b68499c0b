"""Downstream evaluation: does restoring an image help a classifier that never saw damage?

Zhao (*Image Denoising by AutoEncoder: Learning Core Representations*, Sec. 3.2, Table 1) trains
a classifier on clean MNIST and reports its accuracy on clean, noisy and denoised test digits
(98.25 / 13.68 / 96.10 %). :func:`downstream_table` measures the same three numbers for any
degradation and restorer; :func:`clean_mnist_classifier` trains (once, then caches) the clean
classifier; :func:`representation_transfer` compares a classifier initialised from a denoiser's
encoder with a randomly initialised one, epoch by epoch, on the same data and seed.

Images are float32 arrays N x 28 x 28 (or N x 1 x 28 x 28) in [0, 1]; accuracies are percentages.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from restorekit.errors import InvalidImageError, RestorekitError

__all__ = [
    "CLASSIFIER_ARCH", "train_classifier", "classifier_accuracy", "clean_mnist_classifier",
    "mnist_classifier", "mnist_classifier_settings",
    "classifier_cache_path", "downstream_table", "representation_transfer", "transfer_rows",
    "degrade_images", "restore_images", "load_classifier", "save_classifier", "new_classifier",
]

#: Identifies the classifier layout in cache keys and weights metadata (bump on any change).
CLASSIFIER_ARCH = "mnist-classifier/1"
_CLASSIFIER_CONFIG: dict[str, Any] = {"in_channels": 1, "num_classes": 10, "features": [32, 64],
                                      "hidden": 128, "size": 28, "dropout": 0.25}

ImageFn = Callable[[np.ndarray], np.ndarray]


def _device(device: Any) -> torch.device:
    from restorekit.device import resolve_device

    return device if isinstance(device, torch.device) else resolve_device(device)


def _as_batch(images: Any, name: str = "images") -> torch.Tensor:
    """N x H x W or N x 1 x H x W float data in [0, 1] -> float32 tensor N x 1 x H x W."""
    x = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] != 1 or x.shape[0] == 0:
        raise InvalidImageError(f"{name}: expected a non-empty N x 28 x 28 (or N x 1 x 28 x 28) "
                                f"stack, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise InvalidImageError(f"{name}: expected float images in [0, 1], got {x.dtype}")
    x = x.to(torch.float32)
    if not torch.isfinite(x).all():
        raise InvalidImageError(f"{name}: contains NaN or infinite values")
    return x


def _as_labels(labels: Any, n: int, name: str = "labels") -> torch.Tensor:
    if torch.is_tensor(labels):
        labels = labels.detach().cpu().numpy()
    y = torch.from_numpy(np.array(labels, dtype=np.int64).reshape(-1))
    if y.numel() != n:
        raise InvalidImageError(f"{name}: {y.numel()} labels for {n} images")
    return y


def new_classifier(seed: int = 0) -> nn.Module:
    """A freshly initialised :class:`~restorekit.nets.classifier.MnistClassifier` (seeded)."""
    from restorekit.nets.classifier import MnistClassifier

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MnistClassifier(**_CLASSIFIER_CONFIG)


def classifier_accuracy(model: nn.Module, images: Any, labels: Any, *, batch_size: int = 500,
                        device: Any = None) -> float:
    """Top-1 accuracy (0-100) of ``model`` on ``images`` (eval mode; the mode is restored)."""
    x = _as_batch(images)
    y = _as_labels(labels, len(x))
    dev = _device(device)
    was_training = model.training
    model.to(dev).eval()
    correct = 0
    try:
        with torch.inference_mode():
            for i in range(0, len(x), batch_size):
                logits = model(x[i:i + batch_size].to(dev))
                correct += int((logits.argmax(1).cpu() == y[i:i + batch_size]).sum())
    finally:
        model.train(was_training)
    return 100.0 * correct / len(x)


def train_classifier(images: Any, labels: Any, *, epochs: int = 3, batch_size: int = 128,
                     lr: float = 1e-3, seed: int = 0, device: Any = None,
                     init_from: nn.Module | None = None, eval_images: Any = None,
                     eval_labels: Any = None, quiet: bool = True, degradation: Any = None
                     ) -> tuple[nn.Module, list[dict[str, Any]]]:
    """Train the MNIST classifier with Adam and cross-entropy (Zhao, Sec. 3.2 uses Adam).

    ``init_from``: a denoiser (an ``nn.Module`` or a restorer with ``.net``) whose encoder
    convolutions initialise the feature extractor (:func:`~restorekit.nets.classifier.
    init_from_encoder`); everything else is initialised from ``seed`` exactly as without it, so
    the two runs differ only in that copy. Shuffling and dropout are seeded too.

    ``degradation`` (a spec string or object): applied afresh, seeded, to every training batch,
    so the classifier learns the damaged digits themselves: a reference for a restore-then-
    classify pipeline, which is itself one more classifier of the damaged digit.

    Returns ``(model in eval mode, history)``: one dict per epoch with ``epoch``, ``train_loss``
    (mean over the epoch), ``train_accuracy`` (on the fly, with dropout) and, when
    ``eval_images`` are given, ``eval_accuracy``.
    """
    from tqdm import tqdm

    from restorekit.nets.classifier import init_from_encoder

    if epochs < 0 or batch_size < 1 or lr <= 0:
        raise RestorekitError("epochs must be >= 0, batch_size >= 1 and lr > 0")
    x = _as_batch(images)
    y = _as_labels(labels, len(x))
    if (eval_images is None) != (eval_labels is None):
        raise RestorekitError("give eval_images and eval_labels together")
    if eval_images is not None:
        ex = _as_batch(eval_images, "eval_images")
        ey = _as_labels(eval_labels, len(ex), "eval_labels")
    dev = _device(device)
    model = new_classifier(seed)
    if init_from is not None:
        source = getattr(init_from, "net", init_from)
        if init_from_encoder(model, source) == 0:
            raise RestorekitError(f"{type(source).__name__}: no convolution matches the "
                                  "classifier's first layer; cannot initialise from its encoder")
    model.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng([seed, 1])
    if degradation is not None:
        from restorekit.degrade import parse_spec

        damage = parse_spec(degradation)
        damage_rng = np.random.default_rng([seed, 2])
    history: list[dict[str, Any]] = []
    n = len(x)
    steps = (n + batch_size - 1) // batch_size
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        for epoch in range(1, epochs + 1):
            model.train()
            perm = torch.from_numpy(rng.permutation(n))
            total_loss, correct = 0.0, 0
            bar = tqdm(range(steps), disable=quiet, desc=f"classifier epoch {epoch}/{epochs}",
                       dynamic_ncols=True, leave=False)
            for s in bar:
                idx = perm[s * batch_size:(s + 1) * batch_size]
                xb = x[idx]
                if degradation is not None:
                    xb, _ = damage(xb, rng=damage_rng)
                xb, yb = xb.to(dev), y[idx].to(dev)
                logits = model(xb)
                loss = F.cross_entropy(logits, yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total_loss += float(loss.detach()) * len(idx)
                correct += int((logits.argmax(1) == yb).sum())
            row: dict[str, Any] = {"epoch": epoch, "train_loss": total_loss / n,
                                   "train_accuracy": 100.0 * correct / n}
            if eval_images is not None:
                row["eval_accuracy"] = classifier_accuracy(model, ex, ey, device=dev)
            history.append(row)
    model.eval()
    return model, history


def save_classifier(model: nn.Module, path: str | Path, *, meta: dict[str, Any] | None = None
                    ) -> Path:
    """Write the classifier's weights as safetensors (atomically) with its settings as metadata."""
    from safetensors.torch import save_file

    from restorekit.atomic import atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    metadata = {"arch": CLASSIFIER_ARCH, "config": json.dumps(_CLASSIFIER_CONFIG),
                "settings": json.dumps(meta or {}, sort_keys=True)}
    return atomic_write(path, lambda tmp: save_file(state, tmp, metadata=metadata))


def load_classifier(path: str | Path) -> nn.Module:
    """Load weights written by :func:`save_classifier` (a clear error if they do not fit)."""
    from restorekit.errors import WeightsError
    from restorekit.weights import load_state_dict

    state = load_state_dict(path)
    model = new_classifier(0)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise WeightsError(f"{path}: not {CLASSIFIER_ARCH} weights ({first})") from None
    return model.eval()


def classifier_cache_path(cache_dir: str | Path, settings: dict[str, Any]) -> Path:
    """``cache_dir/mnist-classifier-<hash of settings>.safetensors``."""
    key = hashlib.sha256(json.dumps({"arch": CLASSIFIER_ARCH, **settings},
                                    sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"mnist-classifier-{key}.safetensors"


def mnist_classifier_settings(n_train: int, *, seed: int, epochs: int,
                              degradation: str | None = None) -> dict[str, Any]:
    """The settings :func:`mnist_classifier` trains with, as hashed into its cache key."""
    settings: dict[str, Any] = {"seed": seed, "epochs": epochs, "batch_size": 128, "lr": 1e-3,
                                "train": f"mnist-train[:{n_train}]"}
    if degradation is not None:
        settings["degradation"] = str(degradation)
    return settings


def clean_mnist_classifier(mnist_root: str | Path, *, cache_dir: str | Path, seed: int = 0,
                           epochs: int = 3, device: Any = None, quiet: bool = True,
                           limit: int | None = None) -> nn.Module:
    """The classifier trained on MNIST's clean training digits, cached in ``cache_dir``.

    The cache file name hashes every setting (architecture, seed, epochs, batch size, learning
    rate, number of training digits), so a change retrains instead of reusing stale weights.
    An unreadable cache file is retrained over (with a warning). ``limit`` trains on the first
    ``limit`` digits only (tests); the default uses all 60,000.
    """
    return mnist_classifier(mnist_root, cache_dir=cache_dir, seed=seed, epochs=epochs,
                            device=device, quiet=quiet, limit=limit)


def mnist_classifier(mnist_root: str | Path, *, cache_dir: str | Path, seed: int = 0,
                     epochs: int = 3, device: Any = None, quiet: bool = True,
                     limit: int | None = None, degradation: str | None = None) -> nn.Module:
    """:func:`clean_mnist_classifier`, or with ``degradation`` one trained on damaged digits.

    The degradation spec (drawn afresh for every batch, see :func:`train_classifier`) is part
    of the cache key.
    """
    from restorekit.data.mnist import load_mnist

    images, labels = load_mnist(mnist_root, "train")
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    settings = mnist_classifier_settings(len(images), seed=seed, epochs=epochs,
                                         degradation=degradation)
    path = classifier_cache_path(cache_dir, settings)
    if path.is_file():
        try:
            return load_classifier(path).to(_device(device))
        except RestorekitError as exc:
            warnings.warn(f"{path}: cached classifier unusable ({exc}); retraining", stacklevel=2)
    model, history = train_classifier(images.astype(np.float32) / np.float32(255), labels,
                                      epochs=epochs, batch_size=128, lr=1e-3, seed=seed,
                                      device=device, quiet=quiet, degradation=degradation)
    save_classifier(model, path, meta={**settings, "history": history})
    return model


def degrade_images(images: Any, spec: Any, *, seed: int = 0) -> np.ndarray:
    """Apply a degradation (spec string or object) to a stack N x H x W; seeded, one draw."""
    from restorekit.degrade import parse_spec

    x = _as_batch(images)
    out, _ = parse_spec(spec)(x, rng=np.random.default_rng(seed))
    return out[:, 0].numpy().astype(np.float32, copy=False)


def restore_images(images: Any, restorer: Any, *, batch_size: int = 256,
                   sigma: float | None = None, device: Any = None,
                   quiet: bool = True) -> np.ndarray:
    """Restore a stack N x H x W with a denoiser ``nn.Module`` or any :class:`Restorer`.

    ``sigma`` is the noise level on the 0-255 scale, for methods that take one (None: they
    estimate it). Networks run in batches (``forward(x)``, or ``forward(x, sigma / 255)`` for
    nets with ``accepts_sigma``); other restorers go image by image. Output clipped to [0, 1].
    """
    from tqdm import tqdm

    x = _as_batch(images)
    net = restorer if isinstance(restorer, nn.Module) else getattr(restorer, "net", None)
    takes_sigma = bool(getattr(net, "accepts_sigma", False))
    per_image = hasattr(restorer, "restore") and takes_sigma and sigma is None
    if isinstance(net, nn.Module) and not per_image:
        if device is None:
            dev = next(iter(net.parameters()), torch.empty(0)).device
        else:
            dev = _device(device)
        was_training = net.training
        net.to(dev).eval()
        outs = []
        try:
            with torch.inference_mode():
                for i in tqdm(range(0, len(x), batch_size), disable=quiet, desc="restore",
                              dynamic_ncols=True, leave=False):
                    xb = x[i:i + batch_size].to(dev)
                    yb = net(xb, sigma / 255.0 if sigma is not None else None) if takes_sigma \
                        else net(xb)
                    outs.append(yb.clamp(0, 1).cpu())
        finally:
            net.train(was_training)
        out = torch.cat(outs)
        if out.shape != x.shape:
            raise RestorekitError(f"{type(net).__name__} returned shape {tuple(out.shape)} "
                                  f"for input {tuple(x.shape)}")
        return out[:, 0].numpy()
    if not hasattr(restorer, "restore"):
        raise RestorekitError(f"cannot restore with a {type(restorer).__name__}")
    from restorekit.api import restore_with_info

    arr = x[:, 0].numpy()
    res = [restore_with_info(img, restorer, sigma=sigma)[0]
           for img in tqdm(arr, disable=quiet, desc="restore", dynamic_ncols=True, leave=False)]
    return np.clip(np.stack(res).astype(np.float32), 0, 1)


def downstream_table(classifier: nn.Module, clean: Any, labels: Any, degrade_fn: ImageFn,
                     restore_fn: ImageFn | None, *, batch_size: int = 500,
                     device: Any = None) -> dict[str, Any]:
    """Accuracy (%) of ``classifier`` on clean, degraded and restored images (Zhao, Table 1).

    ``degrade_fn(clean) -> degraded`` and ``restore_fn(degraded) -> restored`` work on whole
    N x H x W stacks (see :func:`degrade_images`, :func:`restore_images`); ``restore_fn=None``
    skips the restored column. Returns ``{"n", "clean", "degraded", "restored"}``.
    """
    x = _as_batch(clean, "clean")[:, 0].numpy()
    degraded = np.asarray(degrade_fn(x), dtype=np.float32)
    if degraded.shape[0] != len(x):
        raise RestorekitError(f"degrade_fn returned {degraded.shape[0]} images for {len(x)}")
    row: dict[str, Any] = {
        "n": len(x),
        "clean": classifier_accuracy(classifier, x, labels, batch_size=batch_size, device=device),
        "degraded": classifier_accuracy(classifier, degraded, labels, batch_size=batch_size,
                                        device=device),
    }
    if restore_fn is not None:
        restored = np.asarray(restore_fn(degraded), dtype=np.float32)
        row["restored"] = classifier_accuracy(classifier, restored, labels,
                                              batch_size=batch_size, device=device)
    return row


def representation_transfer(denoiser: nn.Module, images: Any, labels: Any, eval_images: Any,
                            eval_labels: Any, *, epochs: int = 5, batch_size: int = 128,
                            lr: float = 1e-3, seed: int = 0, device: Any = None,
                            quiet: bool = True) -> dict[str, Any]:
    """Train two classifiers on the same data and seed: encoder-initialised and random.

    The only difference is that the first copies ``denoiser``'s encoder convolutions (and
    BatchNorms) into its feature extractor. Returns ``{"encoder": history, "random": history,
    "copied": number of convolutions copied}``; histories as in :func:`train_classifier`.
    """
    from restorekit.nets.classifier import init_from_encoder

    source = getattr(denoiser, "net", denoiser)
    copied = init_from_encoder(new_classifier(seed), source)
    common = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
              "device": device, "eval_images": eval_images, "eval_labels": eval_labels,
              "quiet": quiet}
    _, enc_hist = train_classifier(images, labels, init_from=source, **common)
    _, rand_hist = train_classifier(images, labels, **common)
    return {"encoder": enc_hist, "random": rand_hist, "copied": copied}


def transfer_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-epoch table rows from :func:`representation_transfer`'s result."""
    rows = []
    for enc, rand in zip(result["encoder"], result["random"], strict=True):
        rows.append({"epoch": enc["epoch"],
                     "encoder_init_acc": enc.get("eval_accuracy"),
                     "random_init_acc": rand.get("eval_accuracy"),
                     "encoder_init_loss": enc["train_loss"],
                     "random_init_loss": rand["train_loss"]})
    return rows
