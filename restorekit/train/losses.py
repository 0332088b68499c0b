"""Training losses, a registry by name: ``build_loss("charbonnier", eps=1e-3)``.

Every loss is an ``nn.Module`` called as ``loss(output, target)``. ``output`` is the network's
prediction, or ``(final, intermediates)`` for losses with ``needs_intermediates = True`` (the
trainer then calls the net's ``forward_with_intermediates``); other losses given such a tuple use
``final``.

==================  ============================================================================
``mse``             mean squared error
``rmse``            root mean squared error (the CNN-LSTM paper's loss)
``l1``              mean absolute error
``charbonnier``     ``mean(sqrt((x - y)^2 + eps^2))``, a smooth L1 (LapSRN, Lai et al. 2017)
``perceptual``      MSE between features of a *frozen* extractor, plus an optional pixel term
``multi_supervision``  MemNet's Eq. 10 over the final and per-block outputs (alias ``memnet``)
==================  ============================================================================

The "+ L2" of "RMSE + L2" is a weight penalty on the model, not a loss between images:
:func:`l2_penalty` (the trainer adds ``train.l2_penalty * l2_penalty(model)``).

No pretrained VGG is available offline, so the perceptual loss takes *any* frozen feature
extractor: an ``nn.Module`` passed in (e.g. a small classifier we trained ourselves) or, from a
config, a restorekit weights file with a model card (``extractor = "path/net.safetensors"``).
``layers`` names the sub-modules (``module.get_submodule`` names, e.g. ``"features.3"``) whose
outputs are compared; empty means the extractor's output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from restorekit.errors import RestorekitError, UnknownNameError

__all__ = ["build_loss", "register_loss", "loss_names", "l2_penalty", "MSELoss", "RMSELoss",
           "L1Loss", "CharbonnierLoss", "PerceptualLoss", "MultiSupervisionLoss"]

Output = torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]
_LOSSES: dict[str, Callable[..., nn.Module]] = {}


def register_loss(*names: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator registering a loss under one or more names."""

    def deco(cls: type[nn.Module]) -> type[nn.Module]:
        for name in names:
            _LOSSES[name] = cls
        return cls

    return deco


def loss_names() -> list[str]:
    """Every registered loss name, sorted."""
    return sorted(_LOSSES)


def build_loss(name: str, **options: Any) -> nn.Module:
    """Build the loss registered as ``name`` with ``options`` as keyword arguments."""
    key = name.lower().replace("-", "_")
    if key not in _LOSSES:
        raise UnknownNameError(f"unknown loss {name!r}; valid: {', '.join(loss_names())}")
    try:
        return _LOSSES[key](**options)
    except TypeError as exc:
        raise RestorekitError(f"bad options for loss {name!r}: {exc}") from None


def _final(output: Output) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


class _PixelLoss(nn.Module):
    needs_intermediates = False

    def forward(self, output: Output, target: torch.Tensor) -> torch.Tensor:
        return self.pixel(_final(output).float(), target.float())

    def pixel(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


@register_loss("mse", "l2")
class MSELoss(_PixelLoss):
    """Mean squared error."""

    def pixel(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(x, y)


@register_loss("rmse")
class RMSELoss(_PixelLoss):
    """Root mean squared error over the batch; ``eps`` keeps the gradient finite at zero."""

    def __init__(self, eps: float = 1e-12) -> None:
        super().__init__()
        self.eps = eps

    def pixel(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(F.mse_loss(x, y) + self.eps)


@register_loss("l1", "mae")
class L1Loss(_PixelLoss):
    """Mean absolute error."""

    def pixel(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.l1_loss(x, y)


@register_loss("charbonnier")
class CharbonnierLoss(_PixelLoss):
    """``mean(sqrt((x - y)^2 + eps^2))``: L1-like for large errors, smooth at zero."""

    def __init__(self, eps: float = 1e-3) -> None:
        super().__init__()
        self.eps = eps

    def pixel(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.sqrt((x - y) ** 2 + self.eps**2).mean()


@register_loss("perceptual")
class PerceptualLoss(nn.Module):
    """Feature-space MSE through a frozen extractor, ``sum_l w_l * mse(f_l(x), f_l(y))``.

    ``extractor`` is an ``nn.Module`` or the path of a restorekit weights file with a card;
    it is put in eval mode and frozen (gradients still flow to the restored image).
    ``layers``: sub-module names whose outputs are compared (empty: the module's output);
    ``layer_weights`` one weight per layer (default 1); ``pixel_weight`` adds that much pixel
    MSE. ``repeat_gray`` repeats 1-channel images to 3 for an RGB extractor.
    """

    needs_intermediates = False

    def __init__(self, extractor: nn.Module | str | None = None, layers: Sequence[str] = (),
                 layer_weights: Sequence[float] | None = None, pixel_weight: float = 0.0,
                 repeat_gray: bool = False) -> None:
        super().__init__()
        if extractor is None:
            raise RestorekitError(
                "the perceptual loss needs a frozen feature extractor: pass an nn.Module, or set "
                "train.loss_options.extractor to a restorekit weights file (e.g. a small "
                "classifier trained with restorekit); no pretrained VGG is available offline")
        if isinstance(extractor, str):
            from restorekit.weights import load_network

            extractor = load_network(extractor)[0]
        self.extractor = extractor.eval()
        for p in self.extractor.parameters():
            p.requires_grad_(False)
        self.layers = list(layers)
        for name in self.layers:
            try:
                self.extractor.get_submodule(name)
            except AttributeError:
                names = [n for n, _ in self.extractor.named_modules() if n]
                raise RestorekitError(f"perceptual loss: no layer {name!r} in the extractor; "
                                      f"layers: {', '.join(names)}") from None
        n = max(len(self.layers), 1)
        self.layer_weights = list(layer_weights) if layer_weights is not None else [1.0] * n
        if len(self.layer_weights) != n:
            raise RestorekitError(f"perceptual loss: {len(self.layer_weights)} layer_weights for"
                                  f" {n} layers")
        self.pixel_weight = pixel_weight
        self.repeat_gray = repeat_gray

    def train(self, mode: bool = True) -> PerceptualLoss:
        """Keep the extractor in eval mode whatever the trainer asks (frozen BN/dropout)."""
        super().train(mode)
        self.extractor.eval()
        return self

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The compared features of ``x`` (hooked layer outputs, or the module's output)."""
        if self.repeat_gray and x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        if not self.layers:
            return [self.extractor(x)]
        found: dict[str, torch.Tensor] = {}
        hooks = [self.extractor.get_submodule(name).register_forward_hook(
            lambda _m, _i, out, name=name: found.__setitem__(name, out)) for name in self.layers]
        try:
            self.extractor(x)
        finally:
            for h in hooks:
                h.remove()
        return [found[name] for name in self.layers]

    def forward(self, output: Output, target: torch.Tensor) -> torch.Tensor:
        x, y = _final(output).float(), target.float()
        with torch.no_grad():
            ref = self.features(y)
        loss = sum(w * F.mse_loss(a, b) for w, a, b in
                   zip(self.layer_weights, self.features(x), ref, strict=True))
        if self.pixel_weight:
            loss = loss + self.pixel_weight * F.mse_loss(x, y)
        return loss


@register_loss("multi_supervision", "memnet")
class MultiSupervisionLoss(nn.Module):
    """MemNet's multi-supervised loss, ``alpha * mse(final) + (1 - alpha) * mean_m mse(y_m)``.

    Needs a net with ``forward_with_intermediates`` (MemNet); delegates to
    :func:`restorekit.nets.memnet.multi_supervision_loss`.
    """

    needs_intermediates = True

    def __init__(self, alpha: float = 0.5) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, output: Output, target: torch.Tensor) -> torch.Tensor:
        from restorekit.nets.memnet import multi_supervision_loss

        if not isinstance(output, tuple):
            raise RestorekitError("the multi_supervision loss needs (final, intermediates): "
                                  "use it with a net that has forward_with_intermediates")
        final, intermediates = output
        return multi_supervision_loss(final.float(), [y.float() for y in intermediates],
                                      target.float(), alpha=self.alpha)


def l2_penalty(model: nn.Module) -> torch.Tensor:
    """``sum(w ** 2)`` over the model's trainable weight matrices and kernels.

    Parameters with fewer than 2 dimensions (biases, norm scales) are left out, as is usual
    for weight decay.
    """
    terms = [p.float().pow(2).sum() for p in model.parameters() if p.requires_grad and p.ndim > 1]
    if not terms:
        return torch.zeros(())
    return torch.stack(terms).sum()
