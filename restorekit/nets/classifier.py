"""A small MNIST CNN classifier for downstream tests of restorers (not a restorer itself).

Zhao's DAE paper (*Image Denoising by AutoEncoder: Learning Core Representations*, Sec. 3.2)
judges denoised digits with "a pre-trained neural network classifier" trained for 30 epochs with
Adam, without describing it. We use a classifier whose feature extractor has the same layout as
the ``mnist-dae`` encoder (Conv 3x3 -> BatchNorm -> ReLU -> MaxPool 2x2 per stage, features
(32, 64)), followed by dropout and two linear layers, so a denoiser's encoder can initialise it
(:func:`init_from_encoder`, the representation-transfer experiment).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from restorekit.nets.common import conv_pool_stack


class MnistClassifier(nn.Module):
    """Conv/BN/ReLU/MaxPool features (like ``MnistDAE.encoder``) + dropout + MLP head.

    Input N x C x size x size (28 for MNIST), output N x num_classes logits.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10,
                 features: Sequence[int] = (32, 64), hidden: int = 128, size: int = 28,
                 dropout: float = 0.25) -> None:
        super().__init__()
        self.features_cfg = tuple(int(f) for f in features)
        if not self.features_cfg:
            raise ValueError("features needs at least one stage")
        self.features = conv_pool_stack(in_channels, self.features_cfg)
        side = size // 2 ** len(self.features_cfg)
        flat = self.features_cfg[-1] * side * side
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout),
                                  nn.Linear(flat, hidden), nn.ReLU(inplace=True),
                                  nn.Dropout(dropout), nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _conv_bn_pairs(module: nn.Module) -> list[tuple[nn.Conv2d, nn.BatchNorm2d | None]]:
    """Plain (not transposed) convolutions in registration order, each with the BatchNorm that
    directly follows it (or None)."""
    mods = list(module.modules())
    pairs: list[tuple[nn.Conv2d, nn.BatchNorm2d | None]] = []
    for i, m in enumerate(mods):
        if isinstance(m, nn.Conv2d):  # ConvTranspose2d is not a Conv2d subclass
            nxt = mods[i + 1] if i + 1 < len(mods) else None
            pairs.append((m, nxt if isinstance(nxt, nn.BatchNorm2d) else None))
    return pairs


def init_from_encoder(classifier: nn.Module, denoiser: nn.Module) -> int:
    """Copy a denoiser's encoder convolutions (and their BatchNorms) into ``classifier``.

    Walks the plain convolutions of both modules in order (the denoiser's ``encoder`` attribute
    if it has one, else the whole net) and copies weights while shapes match, stopping at the
    first mismatch, so the classifier starts from the denoiser's first layers. Returns the number
    of convolutions copied (0 means nothing matched and the classifier is unchanged).
    """
    source = getattr(denoiser, "encoder", denoiser)
    src = _conv_bn_pairs(source)
    dst = _conv_bn_pairs(getattr(classifier, "features", classifier))
    copied = 0
    with torch.no_grad():
        for (s_conv, s_bn), (d_conv, d_bn) in zip(src, dst, strict=False):
            if s_conv.weight.shape != d_conv.weight.shape:
                break
            if (s_conv.bias is None) != (d_conv.bias is None):
                break
            d_conv.weight.copy_(s_conv.weight)
            if d_conv.bias is not None and s_conv.bias is not None:
                d_conv.bias.copy_(s_conv.bias)
            if s_bn is not None and d_bn is not None and s_bn.num_features == d_bn.num_features:
                d_bn.load_state_dict(s_bn.state_dict())
            copied += 1
    return copied
