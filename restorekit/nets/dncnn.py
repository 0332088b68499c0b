"""DnCNN: residual learning of a deep CNN for image denoising (Zhang et al., IEEE TIP 2017).

Zhang, K., Zuo, W., Chen, Y., Meng, D., Zhang, L. "Beyond a Gaussian Denoiser: Residual Learning
of Deep CNN for Image Denoising", IEEE Transactions on Image Processing 26(7), 2017.
"""

from __future__ import annotations

import torch
from torch import nn

from restorekit.restorers.base import register_net


@register_net(
    "dncnn",
    paper="Zhang, Zuo, Chen, Meng, Zhang, 'Beyond a Gaussian Denoiser: Residual Learning of Deep "
          "CNN for Image Denoising', IEEE TIP 2017",
    tasks=("denoise", "jpeg", "sr"),
    channels=(1, 3),
    summary="DnCNN: conv-BN-ReLU stack predicting the residual (noise); depth 17 or 20",
    defaults={"depth": 17, "channels": 64, "in_channels": 1, "out_channels": 1},
)
class DnCNN(nn.Module):
    """DnCNN (Zhang et al., TIP 2017), Sec. III-A and Fig. 1.

    ``depth`` layers of 3x3 convolutions with ``channels`` maps: conv-ReLU, ``depth - 2`` times
    conv-BN-ReLU, conv. The net learns the residual ``v = y - x`` (Sec. III-B, the loss of Eq. 1),
    so the output is ``y - net(y)``. Depth 17 is DnCNN-S (one Gaussian level, receptive field
    35x35); depth 20 is DnCNN-B (blind Gaussian) and DnCNN-3 (one model for blind denoising,
    JPEG deblocking and x2-x4 super-resolution of the bicubic-upscaled image), so the
    registry lists all three tasks. ``in_channels=3`` is CDnCNN-B.

    Choices the paper leaves open, following the authors' PyTorch port (cszn/DnCNN,
    ``TrainingCodes/dncnn_pytorch``): only the first convolution has a bias (the middle ones are
    followed by BN, the last predicts a zero-mean residual), BN ``eps = 1e-4`` (also
    MatConvNet's ``vl_nnbnorm`` default, the paper's framework), and the layers live in
    ``self.dncnn`` with the same indices, so that port's state dicts load unchanged. BN momentum
    is PyTorch's default 0.1 rather than the port's 0.95: the port (and KAIR, 0.9) carried over a
    Keras-style value, which in PyTorch's convention keeps only 5 % of the running statistics per
    step; ``bn_momentum=0.95`` reproduces the port exactly. Weights use He initialisation, as the
    paper states (Sec. IV-A).
    """

    def __init__(
        self,
        *,
        depth: int = 17,
        channels: int = 64,
        in_channels: int = 1,
        out_channels: int = 1,
        bn_eps: float = 1e-4,
        bn_momentum: float = 0.1,
    ) -> None:
        super().__init__()
        if in_channels != out_channels:
            raise ValueError("DnCNN subtracts the predicted residual from its input: in_channels "
                             f"must equal out_channels (got {in_channels} and {out_channels})")
        if depth < 2:
            raise ValueError(f"depth must be at least 2, got {depth}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.depth = depth
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=True),
            nn.ReLU(inplace=True),
        ]
        for _ in range(depth - 2):
            layers += [
                nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(channels, eps=bn_eps, momentum=bn_momentum),
                nn.ReLU(inplace=True),
            ]
        layers.append(nn.Conv2d(channels, out_channels, 3, padding=1, bias=False))
        self.dncnn = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x - residual(x)``; any H, W (stride-1 'same' convs need no padding)."""
        return x - self.dncnn(x)
