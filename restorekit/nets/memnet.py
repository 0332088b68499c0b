"""MemNet: a persistent memory network (Tai, Yang, Liu, Xu, ICCV 2017).

Tai, Y., Yang, J., Liu, X., Xu, C. "MemNet: A Persistent Memory Network for Image Restoration",
ICCV 2017, the network studied by Gupta, Bhattacharjee and Joseph ("Image Restoration using Deep
Neural Networks") for denoising, JPEG deblocking and super-resolution on the Y channel.

Where the paper's text is vague we follow the authors' released Caffe definition
(``MemNet_M6R6_80C64_train.prototxt`` in tyshiwo/MemNet); each such choice is noted below.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from restorekit.restorers.base import register_net


def _bn_relu(norm: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    return F.relu(norm(x))


class RecursiveUnit(nn.Module):
    """One pre-activation residual block (BN-ReLU-conv-BN-ReLU-conv + identity) applied R times.

    MemNet's recursive unit (Eq. 4-5: ``H_r = R(H_{r-1}) = F(H_{r-1}, W_m) + H_{r-1}``) reuses the
    same weights ``W_m`` in every recursion, so the two 3x3 convolutions exist once. The batch
    norms do not: the released prototxt shares the convolution parameters across recursions
    (``conv01_wa``/``conv01_wb``) but gives every recursion its own BatchNorm/Scale layer, and the
    statistics of the residual stream change from one recursion to the next, so a shared BN would
    normalise every recursion with the wrong running statistics at test time. ``forward`` takes
    the recursion index to pick its norms.
    """

    def __init__(self, channels: int, recursions: int) -> None:
        super().__init__()
        self.conv_a = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_b = nn.Conv2d(channels, channels, 3, padding=1)
        self.norms_a = nn.ModuleList(nn.BatchNorm2d(channels) for _ in range(recursions))
        self.norms_b = nn.ModuleList(nn.BatchNorm2d(channels) for _ in range(recursions))

    def forward(self, x: torch.Tensor, step: int) -> torch.Tensor:
        h = self.conv_a(_bn_relu(self.norms_a[step], x))
        h = self.conv_b(_bn_relu(self.norms_b[step], h))
        return x + h


class MemoryBlock(nn.Module):
    """A recursive unit (R recursions) followed by a gate unit (BN-ReLU-1x1 conv).

    The gate (Eq. 7) sees the long-term memory (the feature-extraction output and every earlier
    block's output, ``m`` maps for block ``m``, 1-based) and the short-term memory (the R
    recursion outputs), concatenated in that order as the prototxt does, so its input has
    ``(m + R) * channels`` maps and it outputs ``channels``.
    """

    def __init__(self, channels: int, recursions: int, long_term: int) -> None:
        super().__init__()
        self.recursions = recursions
        self.recursive_unit = RecursiveUnit(channels, recursions)
        gate_in = (long_term + recursions) * channels
        self.gate_norm = nn.BatchNorm2d(gate_in)
        self.gate_conv = nn.Conv2d(gate_in, channels, 1)

    def forward(self, x: torch.Tensor, long_term: list[torch.Tensor]) -> torch.Tensor:
        short_term = []
        h = x
        for step in range(self.recursions):
            h = self.recursive_unit(h, step)
            short_term.append(h)
        return self.gate_conv(_bn_relu(self.gate_norm, torch.cat(long_term + short_term, dim=1)))


@register_net(
    "memnet",
    paper="Tai, Yang, Liu, Xu, 'MemNet: A Persistent Memory Network for Image Restoration', "
          "ICCV 2017",
    tasks=("denoise", "jpeg", "sr"),
    channels=(1, 3),
    summary="MemNet: memory blocks (recursive units + gate units) with multi-supervision",
    defaults={"channels": 64, "num_memblocks": 6, "num_resblocks": 6,
              "in_channels": 1, "out_channels": 1, "recon_init": "msra"},
)
class MemNet(nn.Module):
    """MemNet (Tai et al., ICCV 2017): feature extraction, M memory blocks, shared reconstruction.

    Structure (paper Sec. 3, Fig. 1-2; released prototxt):

    - FENet: BN-ReLU-3x3 conv, image -> ``channels`` maps (``B_0``, Eq. 1). The prototxt really
      does batch-normalise the raw image first (``bn_conv1`` on ``data``).
    - M memory blocks ``B_m = M_m(B_{m-1})`` (Eq. 2), see :class:`MemoryBlock`; a recursive unit
      whose residual-block convolutions are shared across its R recursions (Eq. 4) and a gate
      unit over long- and short-term memory (Eq. 7).
    - ReconNet: BN-ReLU-3x3 conv to the image channels plus the input (global residual,
      Eq. 3). Multi-supervision (Sec. 3.3, Eq. 9): every memory block's output is reconstructed by
      the same ReconNet, ``y_m = D(B_m) + x``, and the output is ``y = sum_m w_m * y_m`` with
      learned scalars ``w`` (``self.weights``, length M). As in the prototxt, the reconstruction
      convolution is shared (``Recon_w``) while each branch has its own BN.

    Layer count. The paper counts depth as ``M * (2R + 1) + 2`` (80 for M6R6, 212 for M10R10, the
    numbers in its model names): FENet 1, each memory block 2R recursion convolutions + 1 gate
    conv, ReconNet 1. The shared reconstruction conv is one layer on M parallel branches, not M
    layers in depth, and this implementation runs it once, on the M branches stacked along the
    batch axis (same weights, same result as M calls). So :func:`count_conv_calls` on one
    forward pass gives exactly ``M * (2R + 1) + 2``, 80 for M6R6.

    Parameters. M6R6 with 64 features has 676,992 convolution weights, the 677K the paper
    reports (it counts weights only); with conv biases, BN affine terms and the M fusion weights
    the module has 695,497 trainable parameters.

    Other choices where the paper is silent: convolution weights use He ("msra") initialisation
    as in the prototxt; the fusion weights start at ``1/M`` (a plain average; the prototxt's Scale
    layers start at 1, which makes the initial output M times too large); BN uses PyTorch's
    defaults (eps 1e-5, which is also Caffe's). The global residual needs ``in_channels ==
    out_channels``. The paper trains on the Y channel (``in_channels=1``); colour is a config.
    For super-resolution the input is the bicubic-upscaled image, so input and output sizes match.

    ``recon_init="zero"`` (not the paper's) starts the shared reconstruction conv at zero, so the
    untrained net is the identity (``y = x``) instead of adding a He-initialised residual of
    standard deviation about 0.5 to the image: a short CPU run then starts from the damaged input's
    quality rather than far below it (the zero-init-last-layer trick of residual nets). The conv
    still receives gradients at the first step, and every other layer from the second on.
    """

    def __init__(
        self,
        *,
        channels: int = 64,
        num_memblocks: int = 6,
        num_resblocks: int = 6,
        in_channels: int = 1,
        out_channels: int = 1,
        recon_init: str = "msra",
    ) -> None:
        super().__init__()
        if recon_init not in ("msra", "zero"):
            raise ValueError(f"recon_init must be 'msra' or 'zero', not {recon_init!r}")
        if in_channels != out_channels:
            raise ValueError("MemNet adds its input to the output: in_channels must equal "
                             f"out_channels (got {in_channels} and {out_channels})")
        if num_memblocks < 1 or num_resblocks < 1:
            raise ValueError("num_memblocks and num_resblocks must be at least 1")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_memblocks = num_memblocks
        self.num_resblocks = num_resblocks
        self.fe_norm = nn.BatchNorm2d(in_channels)
        self.fe_conv = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.memory_blocks = nn.ModuleList(
            MemoryBlock(channels, num_resblocks, long_term=m) for m in range(1, num_memblocks + 1)
        )
        self.recon_norms = nn.ModuleList(nn.BatchNorm2d(channels) for _ in range(num_memblocks))
        self.recon_conv = nn.Conv2d(channels, out_channels, 3, padding=1)
        self.weights = nn.Parameter(torch.full((num_memblocks,), 1.0 / num_memblocks))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        if recon_init == "zero":
            nn.init.zeros_(self.recon_conv.weight)

    def forward_with_intermediates(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Return the fused output and the M per-block predictions ``y_m`` (for Eq. 10's loss)."""
        feat = self.fe_conv(_bn_relu(self.fe_norm, x))
        memories = [feat]
        for block in self.memory_blocks:
            feat = block(feat, memories)
            memories.append(feat)
        # Per-branch BN-ReLU, then the one shared conv over all branches at once.
        branches = torch.cat([_bn_relu(norm, b)
                              for norm, b in zip(self.recon_norms, memories[1:], strict=True)])
        n = x.shape[0]
        residuals = self.recon_conv(branches).view(self.num_memblocks, n, *x.shape[1:])
        preds = residuals + x.unsqueeze(0)
        final = (self.weights.view(-1, 1, 1, 1, 1) * preds).sum(dim=0)
        return final, list(preds.unbind(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Restore an NxCxHxW batch; any H, W (all convolutions are stride 1, 'same' padded)."""
        return self.forward_with_intermediates(x)[0]


def multi_supervision_loss(
    final: torch.Tensor,
    intermediates: list[torch.Tensor],
    target: torch.Tensor,
    alpha: float = 0.5,
) -> torch.Tensor:
    """MemNet's multi-supervised loss (Eq. 10): ``alpha * L(final) + (1 - alpha)/M * sum L(y_m)``.

    ``L`` is the mean squared error. The paper writes each term as ``1/(2N) * sum ||x - y||^2``
    over N images; the mean over pixels differs only by a constant factor (the same minimiser,
    a rescaled learning rate).
    """
    if not intermediates:
        raise ValueError("multi_supervision_loss needs at least one intermediate prediction")
    inter = sum(F.mse_loss(y, target) for y in intermediates) / len(intermediates)
    return alpha * F.mse_loss(final, target) + (1.0 - alpha) * inter
