"""rk-unet: restorekit's efficient U-Net denoiser, built for CPU first and scalable for GPUs.

Ideas used, each from its paper:

- U-Net encoder/decoder with skip connections: Ronneberger, Fischer, Brox, "U-Net: Convolutional
  Networks for Biomedical Image Segmentation", MICCAI 2015.
- Pixel-(un)shuffle, i.e. lossless space-to-depth / depth-to-space, to work at a lower
  resolution: Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient
  Sub-Pixel Convolutional Neural Network", CVPR 2016.
- A noise-level map concatenated to the (downsampled) input so one net handles a range of noise
  levels and the user can tune the strength: FFDNet, Zhang, Zuo, Zhang, "FFDNet: Toward a Fast
  and Flexible Solution for CNN-Based Image Denoising", IEEE TIP 2018.
- Bias-free residual blocks without BN, strided-conv down / transposed-conv up, skips by addition,
  noise map input: DRUNet, Zhang, Li, Zuo, Zhang, Van Gool, Timofte, "Plug-and-Play Image
  Restoration with Deep Denoiser Prior", IEEE TPAMI 2021.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from restorekit.nets.common import ResBlock, crop_to, pad_to_multiple
from restorekit.nets.grow import grow_state
from restorekit.restorers.base import register_net


def estimate_noise_level(z: torch.Tensor) -> torch.Tensor:
    """Per-image Gaussian sigma from a 2x2 pixel-unshuffled batch (N, 4C, h, w) -> (N,).

    Donoho's MAD rule on the finest diagonal Haar coefficients, ``median(|HH|) / 0.6745``; the
    orthonormal HH band ``(a - b - c + d) / 2`` of a 2x2 cell keeps the noise's sigma while
    cancelling smooth image content. A cheap fallback for calls without ``sigma``.
    """
    n = z.shape[0]
    cells = z.reshape(n, -1, 4, *z.shape[-2:])
    hh = (cells[:, :, 0] - cells[:, :, 1] - cells[:, :, 2] + cells[:, :, 3]) / 2
    return hh.abs().reshape(n, -1).median(dim=1).values / 0.6745


@register_net(
    "rk-unet",
    paper="restorekit's efficient U-Net (ideas from FFDNet, Zhang et al. TIP 2018; DRUNet, Zhang "
          "et al. TPAMI 2021; U-Net, Ronneberger et al. 2015; pixel shuffle, Shi et al. 2016)",
    tasks=("denoise",),
    channels=(1, 3),
    summary="restorekit's efficient U-Net: pixel-unshuffled, residual blocks, noise-level map",
    defaults={"in_channels": 1, "out_channels": 1, "channels": (32, 64, 128), "num_blocks": 2,
              "noise_map": True},
)
class RKUNet(nn.Module):
    """restorekit's efficient U-Net ("rk-unet"), the default learned denoiser.

    Pipeline for an NxCxHxW input ``x``:

    1. pad H, W to a multiple of ``2 ** len(channels)`` (:func:`pad_to_multiple`), then
       pixel-unshuffle by 2 (Shi et al. 2016, inverted): (N, 4C, H/2, W/2). Every convolution
       then runs on at most a quarter of the pixels, which is where most of the speed-up over
       full-resolution nets such as DnCNN comes from; FFDNet downsamples the same way.
    2. with ``noise_map=True`` append one constant channel holding sigma (0-1 scale), as FFDNet
       and DRUNet do; one channel for gray and colour alike (one sigma per image).
    3. head 3x3 conv to ``channels[0]``; a U-Net (Ronneberger et al. 2015) with one level per
       entry of ``channels``: ``num_blocks`` residual blocks per level (conv-ReLU-conv +
       identity, DRUNet's block), 2x2 stride-2 convolutions down and 2x2 stride-2 transposed
       convolutions up (DRUNet), encoder features added (not concatenated) to the decoder's;
    4. tail 3x3 conv to 4 * out_channels, pixel-shuffle back to full resolution, add the input
       (global residual: the net predicts the correction), crop the padding.

    No BN anywhere, so batch size 1, tiles and train/eval behave the same. No biases by default,
    following DRUNet (bias-free denoisers also generalise better across noise levels, Mohan et
    al. ICLR 2020); such a net is positively homogeneous (f(a x) = a f(x)), which suits additive
    Gaussian noise but cannot key on absolute intensities, as salt & pepper pixels (exactly 0 or
    1) and JPEG quantisation ask. ``bias=True`` gives every convolution a bias for those tasks.

    Default config, (32, 64, 128) with 2 blocks per level, has 1.04 M parameters for gray input
    with a noise map (1.05 M for colour), inside the 0.5-1.5 M target, and needs about 1/11 of
    DnCNN-17's multiply-adds (3.2 vs 36.3 GMAC for a 256x256 gray image). ``channels`` (one
    width per level; its length is the number of levels) and ``num_blocks`` (an int, or one
    count per level) are the width/depth knobs: ``channels=(64, 128, 256, 512), num_blocks=4``
    is a DRUNet-sized variant (32.6 M parameters) for users with GPUs.

    ``tail_init="zero"`` starts the tail conv at zero, so the untrained net is the identity
    (``y = x``; the zero-init-last-layer trick of residual nets, as MemNet's ``recon_init``):
    short runs then start from the damaged input's quality. A 3,000-step JPEG pilot (q10|20,
    Classic5 q10 / q20) gave 29.03 / 31.00 dB against 28.92 / 30.90 from the default init.

    ``forward(x, sigma)``: ``sigma`` is a float, a 0-d tensor or an (N,) tensor on the 0-1 scale
    (25/255 for sigma 25). If it is ``None`` the net estimates sigma per image from the finest
    Haar band (:func:`estimate_noise_level`); callers that know or estimate sigma themselves
    (the restorer API does) should pass it. With ``noise_map=False`` sigma is ignored and
    ``accepts_sigma`` is False.
    """

    accepts_sigma: bool = True

    def __init__(
        self,
        *,
        in_channels: int = 1,
        out_channels: int = 1,
        channels: Sequence[int] = (32, 64, 128),
        num_blocks: int | Sequence[int] = 2,
        noise_map: bool = True,
        bias: bool = False,
        tail_init: str = "default",
    ) -> None:
        super().__init__()
        if tail_init not in ("default", "zero"):
            raise ValueError(f"tail_init must be 'default' or 'zero', not {tail_init!r}")
        if in_channels != out_channels:
            raise ValueError("rk-unet adds its input to the output: in_channels must equal "
                             f"out_channels (got {in_channels} and {out_channels})")
        chans = tuple(int(c) for c in channels)
        if not chans:
            raise ValueError("channels needs at least one level")
        blocks = (tuple(int(b) for b in num_blocks) if isinstance(num_blocks, (list, tuple))
                  else (int(num_blocks),) * len(chans))
        if len(blocks) != len(chans):
            raise ValueError(f"num_blocks has {len(blocks)} entries for {len(chans)} levels")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.noise_map = bool(noise_map)
        self.accepts_sigma = self.noise_map
        self.multiple = 2 ** len(chans)  # 2 for the unshuffle, 2 per downsampling

        bias = bool(bias)
        self.head = nn.Conv2d(4 * in_channels + int(self.noise_map), chans[0], 3, padding=1,
                              bias=bias)
        pairs = list(zip(chans[:-1], blocks[:-1], strict=True))  # levels above the bottleneck
        self.encoders = nn.ModuleList(_stage(c, b, bias) for c, b in pairs)
        self.downs = nn.ModuleList(nn.Conv2d(a, b, 2, stride=2, bias=bias)
                                   for a, b in zip(chans[:-1], chans[1:], strict=True))
        self.bottleneck = _stage(chans[-1], blocks[-1], bias)
        self.ups = nn.ModuleList(nn.ConvTranspose2d(b, a, 2, stride=2, bias=bias)
                                 for a, b in zip(chans[:-1], chans[1:], strict=True))
        self.decoders = nn.ModuleList(_stage(c, b, bias) for c, b in pairs)
        self.tail = nn.Conv2d(chans[0], 4 * out_channels, 3, padding=1, bias=bias)
        if tail_init == "zero":
            nn.init.zeros_(self.tail.weight)
            if self.tail.bias is not None:
                nn.init.zeros_(self.tail.bias)

    def grow_from(self, state: Mapping[str, torch.Tensor]) -> None:
        """Load a smaller rk-unet's weights so this net computes exactly what it did: more
        blocks per level, wider levels, biases (``restorekit.nets.grow``). Levels, image
        channels and ``noise_map`` must match."""
        fixed = {"head.weight": 1, "tail.weight": 0}  # the image side of the net cannot grow
        self.load_state_dict(grow_state(self.state_dict(), state, fixed=fixed,
                                        input_dim=_input_dim, family="rk-unet"))

    def _sigma_map(self, sigma: float | torch.Tensor | None, z: torch.Tensor) -> torch.Tensor:
        n, _, h, w = z.shape
        if sigma is None:
            s = estimate_noise_level(z.detach())
        else:
            # .to keeps a tensor sigma in the graph (tracing/export); floats become constants.
            s = (sigma.to(dtype=z.dtype, device=z.device) if isinstance(sigma, torch.Tensor)
                 else torch.tensor(float(sigma), dtype=z.dtype, device=z.device)).reshape(-1)
            if s.numel() == 1:
                s = s.expand(n)
            elif s.numel() != n:
                raise ValueError(f"sigma has {s.numel()} values for a batch of {n}")
        return s.view(n, 1, 1, 1).expand(n, 1, h, w)

    def forward(self, x: torch.Tensor, sigma: float | torch.Tensor | None = None) -> torch.Tensor:
        """Denoise an NxCxHxW batch in [0, 1]; ``sigma`` on the 0-1 scale (see class doc)."""
        xp, size = pad_to_multiple(x, self.multiple)
        z = F.pixel_unshuffle(xp, 2)
        if self.noise_map:
            z = torch.cat([z, self._sigma_map(sigma, z)], dim=1)
        h = self.head(z)
        skips = []
        for enc, down in zip(self.encoders, self.downs, strict=True):
            h = enc(h)
            skips.append(h)
            h = down(h)
        h = self.bottleneck(h)
        for up, dec, skip in zip(reversed(self.ups), reversed(self.decoders), reversed(skips),
                                 strict=True):
            h = dec(up(h) + skip)
        out = F.pixel_shuffle(self.tail(h), 2) + xp
        return crop_to(out, size)


def _input_dim(key: str) -> int | None:
    """The dimension of an rk-unet tensor that indexes input channels (None for a bias)."""
    if not key.endswith(".weight"):
        return None
    return 0 if key.startswith("ups.") else 1  # ConvTranspose2d stores (in, out, kh, kw)


def _stage(channels: int, blocks: int, bias: bool) -> nn.Sequential:
    return nn.Sequential(*(ResBlock(channels, bias) for _ in range(blocks)))
