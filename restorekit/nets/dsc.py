"""Ten-layer conv-deconv denoiser, plain and with gated Direct Symmetric Connections (DSC).

A. Zhao, *Image Denoising with Deep Convolutional Neural Networks*, Stanford CS331B project
2016: Sec. 3.1 (Table 1 layer sizes, the four DSC equations), Sec. 4.2 (gate factors).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from restorekit.nets.common import crop_to, pad_to_multiple
from restorekit.restorers.base import register_net

_PAPER = ("Zhao, Image Denoising with Deep Convolutional Neural Networks, Stanford CS331B "
          "project 2016")
_DEFAULT_DELTAS = (0.1, 0.2, 0.3, 0.4)
# Table 1 channel widths of Conv-1..Conv-5 (the table's 518 for Conv-5 is a typo for 512).
_WIDTHS = (64, 64, 128, 256, 512)


@register_net(
    "conv-deconv10",
    paper=_PAPER,
    tasks=("denoise",),
    channels=(1, 3),
    summary="10-layer conv-deconv (5 conv, 5 deconv), ReLU throughout, no skips (Zhao Table 1).",
    defaults={"in_channels": 3, "out_channels": 3, "dsc": False},
)
class ConvDeconv10(nn.Module):
    """Zhao's 10-layer conv-deconv network (Table 1), optionally with gated DSC (Sec. 3.1).

    Layer shapes for a 64x64x3 input (Table 1), with the strides/kernels we chose to produce
    them (the paper gives neither):

    ========  ===========  ===================================  ============
    layer     output       op                                    input
    ========  ===========  ===================================  ============
    Conv-1    64x64x64     conv 3x3, stride 1, pad 1             X_0 (image)
    Conv-2    32x32x64     conv 3x3, stride 2, pad 1             X_1 (gated)
    Conv-3    16x16x128    conv 3x3, stride 2, pad 1             X_2 (gated)
    Conv-4    8x8x256      conv 3x3, stride 2, pad 1             X_3 (gated)
    Conv-5    4x4x512      conv 3x3, stride 2, pad 1             X_4 (gated)
    Deconv-1  8x8x256      deconv 3x3, stride 2, pad 1, outpad 1 X_5
    Deconv-2  16x16x128    deconv 3x3, stride 2, pad 1, outpad 1 + X_4 skip
    Deconv-3  32x32x64     deconv 3x3, stride 2, pad 1, outpad 1 + X_3 skip
    Deconv-4  64x64x64     deconv 3x3, stride 2, pad 1, outpad 1 + X_2 skip
    Deconv-5  64x64x3      deconv 3x3, stride 1, pad 1           + X_1 skip
    ========  ===========  ===================================  ============

    (Table 1 prints 518 channels for Conv-5; a typo for 512.) Each deconv is the exact
    transpose geometry of its mirror conv, so Deconv-k's output has the shape of
    Conv-(5-k)'s. ReLU follows every layer, the output layer included ("In all layers, ReLU
    is applied", Sec. 3.1), so outputs are >= 0 and not clamped above.

    DSC (``dsc=True``), Sec. 3.1; the paper's equations are unnumbered, we number them (1)-(4)
    in order of appearance::

        (1) X_i  = Conv(delta * X_{i-1}, W_i) + b_i          (2) X_i  = max(0, X_i)
        (3) X'_i = Deconv(X'_{i-1} + (1 - delta) * X_i, W'_i) + b'_i
        (4) X'_i = max(0, X'_i)

    One gate splits one tensor: ``delta_i`` (the gate factor "for Conv-i", Sec. 4.2:
    0.1, 0.2, 0.3, 0.4 for i = 1..4) scales X_i on its way into Conv-(i+1) (Eq. 1 with the
    X_{i-1} there being X_i), and ``(1 - delta_i) * X_i`` is added to the input of the
    deconv that consumes a tensor of X_i's shape (Eq. 3): X_4 -> Deconv-2, X_3 -> Deconv-3,
    X_2 -> Deconv-4, X_1 -> Deconv-5. This reading is forced by shapes (Eq. 3 adds X_i to a
    deconv input, so they must match) and by the text: delta controls "the amount of
    information flow to subsequent layers or to corresponding deconv layer". Conv-1's input,
    the image X_0, has no connection and is not gated; Conv-5 (the bottleneck) has no DSC and
    feeds Deconv-1 directly. Consequences the tests check: delta_i = 1 everywhere is the
    plain network; delta_i = 0 gives Conv-(i+1) an all-zero input.

    ``learnable_gates=True`` makes each gate ``sigmoid(a_i)`` with ``a_i`` a parameter
    initialised at ``logit(delta_i)``, so gates stay in (0, 1); fixed gates (default) are a
    non-persistent buffer (they come from the config, not the weights file), so a plain and a
    fixed-gate DSC net share one state dict layout.

    Any H, W: padded to a multiple of 16 (four stride-2 stages; reflect) and cropped back.
    """

    multiple = 16

    def __init__(self, in_channels: int = 3, out_channels: int = 3, dsc: bool = False,
                 deltas: Sequence[float] = _DEFAULT_DELTAS, learnable_gates: bool = False) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.dsc = dsc
        self.learnable_gates = learnable_gates and dsc
        d = [float(v) for v in deltas]
        if len(d) != 4:
            raise ValueError(f"deltas needs 4 gate factors (Conv-1..Conv-4), got {d}")
        if any(not 0.0 <= v <= 1.0 for v in d):
            raise ValueError(f"gate factors must lie in [0, 1], got {d}")

        w = _WIDTHS
        self.convs = nn.ModuleList([nn.Conv2d(in_channels, w[0], 3, stride=1, padding=1)] + [
            nn.Conv2d(w[i - 1], w[i], 3, stride=2, padding=1) for i in range(1, 5)])
        self.deconvs = nn.ModuleList([
            nn.ConvTranspose2d(w[4 - k], w[3 - k], 3, stride=2, padding=1, output_padding=1)
            for k in range(4)] + [nn.ConvTranspose2d(w[0], out_channels, 3, stride=1, padding=1)])

        if self.learnable_gates:
            if any(v in (0.0, 1.0) for v in d):
                raise ValueError("learnable gates need deltas strictly inside (0, 1)")
            self.gate_logits = nn.Parameter(torch.tensor([math.log(v / (1 - v)) for v in d]))
        else:
            self.register_buffer("fixed_deltas", torch.tensor(d), persistent=False)

    def deltas(self) -> torch.Tensor:
        """Current gate factors delta_1..delta_4 (a 4-vector in [0, 1])."""
        if self.learnable_gates:
            return torch.sigmoid(self.gate_logits)
        return self.fixed_deltas

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, size = pad_to_multiple(x, self.multiple)
        relu = torch.relu
        if not self.dsc:
            h = x
            for conv in self.convs:
                h = relu(conv(h))
            for deconv in self.deconvs:
                h = relu(deconv(h))
            return crop_to(h, size)

        delta = self.deltas()
        feats = []  # X_1..X_4
        h = relu(self.convs[0](x))  # Eqs. (1)-(2) for Conv-1: X_0 is not gated
        for i in range(1, 5):
            feats.append(h)
            h = relu(self.convs[i](delta[i - 1] * h))  # Eqs. (1)-(2): Conv-(i+1)(delta_i X_i)
        h = relu(self.deconvs[0](h))  # Deconv-1 reads X_5 directly
        for k in range(1, 5):
            i = 4 - k  # Deconv-(k+1) consumes a tensor shaped like X_{5-k} = feats[4-k]
            h = relu(self.deconvs[k](h + (1 - delta[i]) * feats[i]))  # Eqs. (3)-(4)
        return crop_to(h, size)


@register_net(
    "dsc10",
    paper=_PAPER,
    tasks=("denoise",),
    channels=(1, 3),
    summary="10-layer conv-deconv with gated Direct Symmetric Connections, deltas 0.1-0.4.",
    defaults={"in_channels": 3, "out_channels": 3, "deltas": _DEFAULT_DELTAS,
              "learnable_gates": False},
)
class Dsc10(ConvDeconv10):
    """:class:`ConvDeconv10` with the gated Direct Symmetric Connections on (Zhao, Sec. 3.1)."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3,
                 deltas: Sequence[float] = _DEFAULT_DELTAS, learnable_gates: bool = False,
                 dsc: bool = True) -> None:
        super().__init__(in_channels, out_channels, dsc=dsc, deltas=deltas,
                         learnable_gates=learnable_gates)
