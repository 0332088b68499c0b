"""RED-Net: very deep conv-deconv encoder-decoder with symmetric skip connections.

X.-J. Mao, C. Shen, Y.-B. Yang, *Image Restoration Using Very Deep Convolutional
Encoder-Decoder Networks with Symmetric Skip Connections*, NeurIPS 2016 (arXiv 1603.09056),
cited by the Haque et al., Zhao (DSC) and MemNet-study papers.
"""

from __future__ import annotations

import torch
from torch import nn

from restorekit.restorers.base import register_net


@register_net(
    "rednet",
    paper="Mao, Shen, Yang, Image Restoration Using Very Deep Convolutional Encoder-Decoder "
          "Networks with Symmetric Skip Connections, NeurIPS 2016",
    tasks=("denoise", "sr", "jpeg", "inpaint"),
    channels=(1, 3),
    summary="RED-Net: symmetric conv/deconv stack, skips every 2 layers, input residual.",
    defaults={"in_channels": 1, "out_channels": 1, "num_layers": 20, "features": 64},
)
class RedNet(nn.Module):
    """Mao et al.'s RED-Net (RED20 by default, RED30 with ``num_layers=30``).

    ``num_layers / 2`` convolutions then as many deconvolutions, all 3x3, stride 1, padding 1,
    ``features`` = 64 maps, no pooling (the paper drops pooling to keep details), so any
    H, W works without padding. Symmetric skips every two layers: conv c_k's output is added
    to the output of its mirror deconv (the deconv whose output has c_k's place), the sum
    then goes through ReLU; the chain of skips ends at the input image itself, added to the
    last (linear) deconv's output, which is the global residual. With n = num_layers / 2,
    deconv j (1-indexed) receives c_{n-j} for every j with (n - j) even, so for RED20:
    deconv2 + c8, deconv4 + c6, deconv6 + c4, deconv8 + c2, deconv10 + input; for RED30:
    deconv1 + c14, deconv3 + c12, ..., deconv13 + c2, deconv15 + input.

    Choices: padding 1 (sizes never change, as in the authors' released Caffe definitions);
    one ReLU after each conv and after each deconv (after the skip sum where there is one);
    the output is not clamped (the restorer clips to [0, 1]). With in != out channels the
    global residual is dropped (there is nothing of the output's shape to add).
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, num_layers: int = 20,
                 features: int = 64) -> None:
        super().__init__()
        if num_layers < 2 or num_layers % 2:
            raise ValueError(f"num_layers must be an even number >= 2, got {num_layers}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_layers = num_layers
        n = num_layers // 2
        f = features
        self.convs = nn.ModuleList(
            nn.Conv2d(in_channels if k == 0 else f, f, 3, padding=1) for k in range(n))
        self.deconvs = nn.ModuleList(
            nn.ConvTranspose2d(f, out_channels if j == n - 1 else f, 3, padding=1)
            for j in range(n))
        self.residual = in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = len(self.convs)
        feats = [x]  # feats[k] = c_k, with c_0 the input image
        h = x
        for conv in self.convs:
            h = torch.relu(conv(h))
            feats.append(h)
        for j, deconv in enumerate(self.deconvs[:-1], start=1):
            h = deconv(h)
            if (n - j) % 2 == 0:  # skip from the mirror conv output c_{n-j}
                h = h + feats[n - j]
            h = torch.relu(h)
        out = self.deconvs[-1](h)  # linear output layer
        return out + x if self.residual else out
