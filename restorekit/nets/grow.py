"""Function-preserving growth of a residual net: load a smaller net's weights into a deeper or
wider one of the same family so that it computes exactly what the smaller one did.

Deeper ("Net2DeeperNet", Chen, Goodfellow, Shlens, "Net2Net: Accelerating Learning via Knowledge
Transfer", ICLR 2016): every extra residual block starts with its second conv at zero, so it is
the identity. Wider (new units with zero outgoing weights, as GradMax, Evci et al., ICLR 2022):
each conv's old weights fill the corner of the wider one, weights that read a new channel start
at zero and those that write one keep their random init, so the new channels carry features
from the first step while nothing reads them yet. Biases the smaller net lacks start at zero.
Fine-tuning a grown net starts from the smaller net's quality with more capacity.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch


def grow_state(
    own: Mapping[str, torch.Tensor],
    state: Mapping[str, torch.Tensor],
    *,
    fixed: Mapping[str, int],
    input_dim: Callable[[str], int | None],
    family: str,
) -> dict[str, torch.Tensor]:
    """``own`` (the larger net's state, its init) with ``state`` grown into it.

    ``fixed`` maps tensors on the image side of the net to the dimension that cannot grow;
    ``input_dim(key)`` names the dimension of a weight that indexes its input channels (None
    for a bias). Raises ``ValueError`` (naming ``family``) for weights that do not fit.
    """
    unexpected = sorted(set(state) - set(own))
    if unexpected:
        raise ValueError(f"weights hold {len(unexpected)} tensors this {family} lacks (e.g. "
                         f"{unexpected[0]}): it can only grow (more blocks, wider, biases), "
                         "not shrink or change its layout")
    for key, value in state.items():
        old, new = tuple(value.shape), tuple(own[key].shape)
        if (len(old) != len(new) or any(a > b for a, b in zip(old, new, strict=True))
                or old[2:] != new[2:] or (key in fixed and old[fixed[key]] != new[fixed[key]])):
            raise ValueError(f"{key} is {old} in the weights and {new} here: it can only grow "
                             "wider; its layout and image channels must match")
    grown = dict(own)
    for key, value in state.items():
        grown[key] = _widen(value, own[key], input_dim(key))
    for key in set(own) - set(state):
        if key.endswith(".bias") or key.endswith(".conv2.weight"):
            grown[key] = torch.zeros_like(own[key])
        elif not key.endswith(".conv1.weight"):  # a new block's first conv keeps its init
            raise ValueError(f"{key} is missing from the weights and is not part of an extra "
                             "residual block or a bias")
    return grown


def _widen(old: torch.Tensor, init: torch.Tensor, reads: int | None) -> torch.Tensor:
    """``old`` in the corner of ``init``'s shape; new weights that read a new channel (input
    dimension ``reads``) and new bias entries are zero, other new weights keep ``init``."""
    if old.shape == init.shape:
        return old.clone()
    out = init.clone()
    if reads is None:
        out.zero_()
    else:
        new_inputs = [slice(None)] * out.dim()
        new_inputs[reads] = slice(old.shape[reads], None)
        out[tuple(new_inputs)] = 0
    out[tuple(slice(0, n) for n in old.shape)] = old
    return out
