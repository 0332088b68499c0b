"""Small helpers every architecture shares: padding to a size multiple, a conv encoder stack, a
residual block, counting."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad an NxCxHxW batch on the bottom/right so H and W are multiples of ``multiple``.

    Reflect padding avoids the dark borders zero padding teaches a net to expect; inputs too
    small to reflect use replicate. Returns the padded batch and the original (H, W) for
    :func:`crop_to`.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x, (h, w)
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode), (h, w)


def crop_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Undo :func:`pad_to_multiple`: keep the top-left ``size`` = (H, W)."""
    return x[..., : size[0], : size[1]]


def conv_pool_stack(in_channels: int, features: tuple[int, ...]) -> nn.Sequential:
    """Per stage: 3x3 conv -> BatchNorm -> ReLU -> 2x2 max-pool (each stage halves H and W)."""
    layers: list[nn.Module] = []
    prev = in_channels
    for f in features:
        layers += [nn.Conv2d(prev, f, 3, padding=1), nn.BatchNorm2d(f), nn.ReLU(inplace=True),
                   nn.MaxPool2d(2)]
        prev = f
    return nn.Sequential(*layers)


class ResBlock(nn.Module):
    """conv-ReLU-conv plus identity, without BN (EDSR's block, Lim et al. 2017, Fig. 2c; DRUNet's);
    bias-free by default."""

    def __init__(self, channels: int, bias: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=bias)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters (shared weights counted once)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def count_conv_calls(module: nn.Module, *inputs: torch.Tensor) -> int:
    """How many convolution layers execute in one forward pass (recursions counted each time)."""
    calls = 0

    def hook(*_: object) -> None:
        nonlocal calls
        calls += 1

    handles = [m.register_forward_hook(hook) for m in module.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    try:
        with torch.no_grad():
            module(*inputs)
    finally:
        for h in handles:
            h.remove()
    return calls
