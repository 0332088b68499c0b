"""EDSR-baseline for one scale factor, working at low resolution (Lim et al., CVPRW 2017).

Lim, B., Son, S., Kim, H., Nah, S., Lee, K. M. "Enhanced Deep Residual Networks for Single
Image Super-Resolution", CVPR Workshops (NTIRE) 2017.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from restorekit.nets.common import ResBlock, crop_to, pad_to_multiple
from restorekit.nets.grow import grow_state
from restorekit.restorers.base import register_net


@register_net(
    "edsr",
    paper="Lim, Son, Kim, Nah, Lee, 'Enhanced Deep Residual Networks for Single Image "
          "Super-Resolution', CVPRW 2017",
    tasks=("sr",),
    channels=(1, 3),
    summary="EDSR-baseline at low resolution for one scale factor: residual blocks without BN, "
            "pixel-shuffle upsampling",
    defaults={"scale": 3, "channels": 64, "num_blocks": 16, "in_channels": 1,
              "out_channels": 1},
)
class EDSR(nn.Module):
    """EDSR-baseline (Lim et al., CVPRW 2017, Sec. 3.1 and Fig. 3): a head conv, ``num_blocks``
    residual blocks of ``channels`` maps without batch norm (Fig. 2c), a conv closing the global
    skip, and a sub-pixel upsampler (Shi et al., CVPR 2016: conv to ``scale**2`` maps per output
    channel, then pixel shuffle). The paper's baseline is 16 blocks of 64 maps with residual
    scaling 1, as here (its 0.1 scaling is for the wide model only).

    Every SR model here shares one interface: it takes the image already enlarged to the output
    size (``resample:scale=s``, MATLAB bicubic) and returns a same-size image, so one pipeline
    trains, tiles, self-ensembles and benchmarks them all. EDSR keeps the paper's low-resolution
    body through two departures:

    * the input is pixel-unshuffled by ``scale``: the enlarged image's ``scale x scale`` phases
      become channels at low resolution, a linear recoding of the low-resolution image that the
      head conv reads in its place. Its cost per output pixel is that of the paper's net,
      ``scale**2`` times below a net of the same width run at full resolution (VDSR, DnCNN-3,
      MemNet);
    * the output is added to the enlarged input (global residual, as VDSR), so the body learns
      only the missing detail. The upsampler conv starts at zero: the untrained net is the
      bicubic image.

    The enlarged image's phases line up only when its low-resolution grid starts at the top-left
    pixel, as ``resample`` makes it. So ``multiple`` is ``scale``: tiles start on the grid, and
    sizes are padded bottom/right to a multiple of it. One net serves one scale factor.
    """

    def __init__(
        self,
        *,
        scale: int = 3,
        channels: int = 64,
        num_blocks: int = 16,
        in_channels: int = 1,
        out_channels: int = 1,
    ) -> None:
        super().__init__()
        if in_channels != out_channels:
            raise ValueError("EDSR adds its output to the enlarged input: in_channels must "
                             f"equal out_channels (got {in_channels} and {out_channels})")
        if scale < 1 or channels < 1 or num_blocks < 0:
            raise ValueError("scale and channels must be >= 1 and num_blocks >= 0, got "
                             f"{scale}, {channels}, {num_blocks}")
        self.scale = int(scale)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.multiple = self.scale
        phases = in_channels * self.scale ** 2
        self.head = nn.Conv2d(phases, channels, 3, padding=1)
        self.body = nn.Sequential(*(ResBlock(channels, bias=True) for _ in range(num_blocks)))
        self.body_end = nn.Conv2d(channels, channels, 3, padding=1)
        self.upsample = nn.Conv2d(channels, out_channels * self.scale ** 2, 3, padding=1)
        nn.init.zeros_(self.upsample.weight)
        nn.init.zeros_(self.upsample.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Restore an NxCxHxW batch in [0, 1] of images enlarged ``scale`` times."""
        xp, size = pad_to_multiple(x, self.scale)
        h = self.head(F.pixel_unshuffle(xp, self.scale))
        h = h + self.body_end(self.body(h))
        out = xp + F.pixel_shuffle(self.upsample(h), self.scale)
        return crop_to(out, size)

    def grow_from(self, state: Mapping[str, torch.Tensor]) -> None:
        """Load a smaller EDSR's weights (fewer blocks, fewer maps) so this net computes
        exactly what it did (``restorekit.nets.grow``). Scale and image channels must match."""
        fixed = {"head.weight": 1, "upsample.weight": 0, "upsample.bias": 0}
        self.load_state_dict(grow_state(self.state_dict(), state, fixed=fixed,
                                        input_dim=lambda key: 1 if key.endswith(".weight")
                                        else None, family="EDSR"))
