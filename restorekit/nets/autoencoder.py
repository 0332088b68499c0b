"""Convolutional denoising autoencoders: Zhao's MNIST DAE and Khan et al.'s RGB SIDD autoencoder.

- :class:`MnistDAE` ("mnist-dae"): Z. Zhao, *Image Denoising by AutoEncoder: Learning Core
  Representations* (Sec. 2.1, 2.3).
- :class:`SiddAutoencoder` ("sidd-ae"): S. Khan, M. N. M. Shihab, F. Uddin, I. A. Pial,
  *Image Denoise with AutoEncoder* (Sec. IV.D), layer list taken from the authors' public
  notebook that the paper links, because it is the only structure that gives the paper's
  3,023,235 parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from restorekit.nets.common import conv_pool_stack, crop_to, pad_to_multiple
from restorekit.restorers.base import register_net


@register_net(
    "mnist-dae",
    paper="Zhao, Image Denoising by AutoEncoder: Learning Core Representations, ANU preprint 2018",
    tasks=("denoise",),
    channels=(1, 3),
    summary="Conv + BN + ReLU + max-pool encoder, transposed-conv decoder, ReLU output (MNIST).",
    defaults={"in_channels": 1, "out_channels": 1, "features": (32, 64)},
)
class MnistDAE(nn.Module):
    """Zhao's MNIST denoising autoencoder: conv/BN/ReLU/max-pool down, deconv/BN/ReLU up.

    The paper (Sec. 2.1) only lists the ingredients: convolutions, ReLU, max-pooling and batch
    normalisation in the encoder; deconvolutions, ReLU and batch normalisation in the decoder;
    Sec. 2.3 adds a ReLU on the output layer so the output is non-negative. It gives no layer
    table, so we choose (and these are the shapes the tests check, for a 1x28x28 input):

    - encoder stage k = Conv 3x3 (pad 1) -> BatchNorm -> ReLU -> MaxPool 2x2, with
      ``features = (32, 64)``: 1@28x28 -> 32@14x14 -> 64@7x7 (the code);
    - decoder mirrors it with ConvTranspose 3x3, stride 2, pad 1, output_pad 1 (exact 2x):
      64@7x7 -> 32@14x14 (+ BatchNorm + ReLU) -> C@28x28 (+ ReLU, no BatchNorm on the
      output layer: normalising a 1-channel image output would fight the target's range).
      The paper also names "Maxpooling" for the decoder; we read that as the decoder undoing
      the pooling, which the stride-2 transposed convolutions do.

    Any H, W: the input is padded to a multiple of 2**len(features) (reflect) and cropped back.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1,
                 features: Sequence[int] = (32, 64)) -> None:
        super().__init__()
        if not features:
            raise ValueError("features needs at least one stage")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.features = tuple(int(f) for f in features)
        self.multiple = 2 ** len(self.features)

        self.encoder = conv_pool_stack(in_channels, self.features)

        prev = self.features[-1]
        dec: list[nn.Module] = []
        for f in reversed(self.features[:-1]):
            dec += [nn.ConvTranspose2d(prev, f, 3, stride=2, padding=1, output_padding=1),
                    nn.BatchNorm2d(f), nn.ReLU(inplace=True)]
            prev = f
        dec += [nn.ConvTranspose2d(prev, out_channels, 3, stride=2, padding=1, output_padding=1),
                nn.ReLU()]
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code map (N x features[-1] x H/2^k x W/2^k) of an already padded batch."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, size = pad_to_multiple(x, self.multiple)
        return crop_to(self.decoder(self.encoder(x)), size)


class SameConv2d(nn.Conv2d):
    """Stride-1 convolution with Keras/TensorFlow ``padding='same'``, even kernels included.

    TensorFlow pads ``k - 1`` zeros in total, ``(k - 1) // 2`` before and the rest after (so a
    2x2 kernel gets one zero row/column at the bottom/right); we pad explicitly the same way.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=1, padding=0)
        before = (kernel_size - 1) // 2
        after = kernel_size - 1 - before
        self._pad = (before, after, before, after)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self._pad))


class SameConvTranspose2d(nn.ConvTranspose2d):
    """Stride-1 transposed convolution with Keras ``padding='same'`` (output size = input size).

    A stride-1 transposed convolution is the adjoint of :class:`SameConv2d`: compute the full
    output (size ``n + k - 1``) and keep the ``n`` samples starting at ``(k - 1) // 2``. For a
    2x2 kernel that drops the last row and column, which is what TensorFlow's
    ``conv2d_transpose(padding='SAME')`` does; PyTorch's ``padding`` argument can only trim
    symmetrically, hence this class.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=1, padding=0)
        self._before = (kernel_size - 1) // 2

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        h, w = x.shape[-2:]
        y = super().forward(x)
        b = self._before
        return y[..., b:b + h, b:b + w]


_ACTIVATIONS = ("none", "relu")


@register_net(
    "sidd-ae",
    paper="Khan, Shihab, Uddin, Pial, Image Denoise with AutoEncoder, North South University "
          "preprint 2021",
    tasks=("denoise",),
    channels=(1, 3),
    summary="RGB Conv2D/Conv2DTranspose autoencoder, 256 filters, stride 1, same padding (SIDD).",
    defaults={"in_channels": 3, "out_channels": 3, "features": 256, "bottleneck": 128,
              "kernel_sizes": (2, 2, 3, 3, 3), "activation": "none", "skips": True,
              "residual": True},
)
class SiddAutoencoder(nn.Module):
    """Khan et al.'s RGB convolutional autoencoder for SIDD (Sec. IV.D), at full resolution.

    The paper says: Keras Conv2D encoder and Conv2DTranspose decoder, 256 filters, 2x2 kernels,
    stride 1, ``same`` padding, 3,023,235 trainable parameters, MSE loss, Adam at 1e-4. A
    network of only 2x2, 256-filter layers cannot have exactly that many parameters; the
    authors' notebook linked from the paper (github.com/Shakib-IO/CSE445_Machine_Learning,
    ``create_model``) can, and we rebuild its structure (all stride 1, ``same`` padding):

    ============  ==========================  ===========================
    layer         channels, kernel            input
    ============  ==========================  ===========================
    conv1         C -> 256, 2x2               image
    conv2         256 -> 256, 2x2             conv1
    conv3         256 -> 256, 3x3             conv2
    conv4         256 -> 256, 3x3             conv3
    conv5         256 -> 128, 3x3             conv4
    deconv5       128 -> 256, 2x2 (transp.)   conv5, then ``+ conv4``
    deconv4       256 -> 256, 2x2 (transp.)   deconv5
    deconv3       256 -> 256, 3x3 (transp.)   deconv4, then ``+ conv2``
    deconv2       256 -> 128, 3x3 (transp.)   deconv3
    deconv1       128 -> C, 3x3 (transp.)     deconv2, then ``+ image``
    ============  ==========================  ===========================

    Parameter count (``count_parameters``): **3,023,235** with the defaults and 3 channels,
    exactly the paper's figure; 3,018,881 for 1 channel. With ``kernel_sizes=(2,) * 5`` (the
    paper's text taken literally) it is 1,710,595.

    Choices where the paper is vague:

    - activations: the notebook's layers use Keras' default (none), so the default network is
      linear (an affine filter bank with skips); ``activation="relu"`` puts a ReLU after every
      layer but deconv1 (the paper never mentions activations);
    - the two feature skips and the input-to-output residual come from the notebook, not the
      paper text; ``skips`` / ``residual`` switch them off;
    - ``same`` padding is zero padding applied asymmetrically for even kernels, as Keras does
      (:class:`SameConv2d`, :class:`SameConvTranspose2d`);
    - no downsampling at all (stride 1 everywhere), so any H, W works without padding; the
      output is not clamped (the restorer clips to [0, 1]).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, features: int = 256,
                 bottleneck: int = 128, kernel_sizes: Sequence[int] = (2, 2, 3, 3, 3),
                 activation: str = "none", skips: bool = True, residual: bool = True) -> None:
        super().__init__()
        ks = tuple(int(k) for k in kernel_sizes)
        if len(ks) != 5:
            raise ValueError(f"kernel_sizes needs 5 entries (one per conv layer), got {ks}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {_ACTIVATIONS}, got {activation!r}")
        if residual and in_channels != out_channels:
            raise ValueError("residual=True needs in_channels == out_channels")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.skips = skips
        self.residual = residual
        self.act: nn.Module = nn.ReLU() if activation == "relu" else nn.Identity()
        f, b = features, bottleneck
        enc = [(in_channels, f), (f, f), (f, f), (f, f), (f, b)]
        dec = [(b, f), (f, f), (f, f), (f, b), (b, out_channels)]
        self.convs = nn.ModuleList(SameConv2d(i, o, k) for (i, o), k in zip(enc, ks, strict=True))
        self.deconvs = nn.ModuleList(SameConvTranspose2d(i, o, k) for (i, o), k
                                     in zip(dec, ks, strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = []
        h = x
        for conv in self.convs:
            h = self.act(conv(h))
            feats.append(h)
        c2, c4 = feats[1], feats[3]
        d = self.act(self.deconvs[0](h))  # deconv5
        if self.skips:
            d = d + c4
        d = self.act(self.deconvs[1](d))  # deconv4
        d = self.act(self.deconvs[2](d))  # deconv3
        if self.skips:
            d = d + c2
        d = self.act(self.deconvs[3](d))  # deconv2
        out = self.deconvs[4](d)  # deconv1: linear output layer
        return out + x if self.residual else out
