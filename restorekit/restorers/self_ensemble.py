"""x8 self-ensemble: average a net's outputs over the eight flips and rotations of its input.

Lim et al., "Enhanced Deep Residual Networks for Single Image Super-Resolution" (EDSR, CVPRW
2017), Sec. 4 ("geometric self-ensemble"); KAIR's ``test_x8`` does the same. A restoration net
trained with flip / rot90 augmentation should commute with these eight transforms; averaging
the eight answers cancels part of its error (typically +0.1-0.3 dB) at eight times the compute.
The transforms run one after another, so memory stays that of one forward pass plus an
accumulator, and the tile budget of :class:`~restorekit.restorers.network.NetworkRestorer`
holds unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Forward = Callable[[torch.Tensor], torch.Tensor]

# (quarter turns k, flip W first): the dihedral group of the square
TRANSFORMS: tuple[tuple[int, bool], ...] = tuple((k, f) for f in (False, True) for k in range(4))


def _apply(t: torch.Tensor, k: int, flip: bool) -> torch.Tensor:
    if flip:
        t = t.flip(-1)
    return torch.rot90(t, k, dims=(-2, -1)) if k else t


def _invert(t: torch.Tensor, k: int, flip: bool) -> torch.Tensor:
    if k:
        t = torch.rot90(t, -k, dims=(-2, -1))
    return t.flip(-1) if flip else t


def self_ensemble(forward: Forward) -> Forward:
    """``forward`` averaged over the 8 dihedral transforms of its NxCxHxW input.

    ``forward`` must keep spatial positions (output HxW equal to input HxW, or an integer
    multiple of it for super-resolution nets): each output is transformed back before averaging.
    A 90-degree turn swaps H and W, so the net must accept both orders (fully convolutional nets
    do).
    """

    def ensembled(x: torch.Tensor) -> torch.Tensor:
        total: torch.Tensor | None = None
        for k, flip in TRANSFORMS:
            y = _invert(forward(_apply(x, k, flip)), k, flip)
            total = y.to(torch.float32, copy=True) if total is None else total.add_(y)
        assert total is not None
        return total.div_(len(TRANSFORMS))

    return ensembled
