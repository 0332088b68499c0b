"""Noise models: gaussian, poisson, nlf (Poisson-Gaussian), salt-pepper, speckle.

Conventions (images are float in [0, 1]):

- ``gaussian:sigma=s`` adds N(0, (s/255)^2): sigma is on the 0-255 scale, as in the denoising
  literature. ``clip`` defaults to false, the usual AWGN benchmark convention (the noise stays
  zero-mean and its std is exactly sigma/255).
- ``poisson:peak=p`` gives Poisson(p * x) / p: p photons at intensity 1, variance x / p.
- ``nlf:b1=..,b2=..`` (alias ``poisson-gaussian``) adds zero-mean Gaussian noise whose variance is
  ``b1 * y + b2``, with ``y`` the clean intensity in [0, 1] and the variance in [0, 1]-intensity
  units (not 0-255). ``restorekit.noise_estimation`` fits (b1, b2) in this same convention.
  The result is clipped to [0, 1] by default, like a sensor.
- ``salt-pepper:amount=a,ratio=r`` sets a fraction ``a`` of the pixels to 1 (a fraction ``r`` of
  them, salt) or 0 (pepper). Colour images lose whole pixels unless ``per-channel=true``.
- ``speckle:sigma=s`` is multiplicative: y = x + x * n, n ~ N(0, s^2), s on the 0-1 scale.

``clip`` defaults to false for gaussian, poisson and speckle (unbiased noise) and true for nlf;
``clip=true|false`` draws it per call, for training a denoiser on both conventions (a noisy photo
read from a file is always clipped).
On torch batches, parameters given as ranges or choices are drawn once per image and recorded in
``params`` as lists.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from restorekit.degrade.base import Degradation, Ops, Param, register_degradation

__all__ = ["Gaussian", "NLF", "Poisson", "SaltPepper", "Speckle", "salt_pepper"]

_MAX_RATE = 1e15
_CLIP_OFF = Param("clip", "bool", False, "clip the result to [0, 1]")
_CLIP_ON = Param("clip", "bool", True, "clip the result to [0, 1]")


def _finish(y: Any, p: dict[str, Any], ops: Ops) -> tuple[Any, dict[str, Any]]:
    """Clip if asked; ``clip=true|false`` on a batch gives one flag per image."""
    clip = p["clip"]
    if isinstance(clip, list):
        return ops.where(ops.value(clip) > 0.5, ops.clip(y), y), p
    return (ops.clip(y) if clip else y), p


@register_degradation
class Gaussian(Degradation):
    """Additive white Gaussian noise; ``sigma`` on the 0-255 scale (std = sigma / 255)."""

    name = "gaussian"
    aliases = ("awgn",)
    summary = "additive white Gaussian noise, sigma on the 0-255 scale"
    example = "gaussian:sigma=25"
    positional = "sigma"
    PARAMS = (
        Param("sigma", "float", 25.0, "noise std on the 0-255 scale", lo=0, hi=10000, show=True),
        _CLIP_OFF,
    )

    def _apply(self, x: Any, p: dict[str, Any], ops: Ops) -> tuple[Any, dict[str, Any]]:
        return _finish(x + ops.normal() * ops.value(p["sigma"], 1 / 255), p, ops)


@register_degradation
class Poisson(Degradation):
    """Shot noise: ``Poisson(peak * x) / peak`` (``peak`` photons at intensity 1)."""

    name = "poisson"
    aliases = ("shot",)
    summary = "Poisson shot noise, peak = photons at intensity 1 (variance x/peak)"
    example = "poisson:peak=30"
    positional = "peak"
    PARAMS = (
        # peak >= 1e-3: counts / peak must stay finite in float32 (5e-324 gave inf and NaN)
        Param("peak", "float", 30.0, "photons at intensity 1", lo=1e-3, hi=1e7, show=True),
        _CLIP_OFF,
    )

    def _apply(self, x: Any, p: dict[str, Any], ops: Ops) -> tuple[Any, dict[str, Any]]:
        peak = ops.value(p["peak"])
        # The rate is capped (after earlier steps values can be huge): numpy refuses rates above
        # ~9e18, and at 1e15 photons the shot noise is below float32 resolution anyway.
        lam = ops.relu(x) * peak
        lam = lam.clamp_max(_MAX_RATE) if ops.torch else np.minimum(lam, _MAX_RATE)
        return _finish(ops.poisson(lam) / peak, p, ops)


@register_degradation
class NLF(Degradation):
    """Signal-dependent Gaussian noise, variance ``b1 * y + b2`` in [0, 1]-intensity units.

    ``y`` is the clean intensity (clipped to [0, 1] for the variance). This is the
    noise-level-function convention that ``restorekit.noise_estimation`` fits.
    """

    name = "nlf"
    aliases = ("poisson-gaussian",)
    summary = "Poisson-Gaussian noise, variance b1*y + b2 (y and variance in [0,1] units)"
    example = "nlf:b1=0.01,b2=0.0004"
    PARAMS = (
        Param("b1", "float", 0.01, "signal-dependent variance slope", lo=0, hi=100, show=True),
        Param("b2", "float", 0.0004, "signal-independent variance", lo=0, hi=100, show=True),
        _CLIP_ON,
    )

    def _apply(self, x: Any, p: dict[str, Any], ops: Ops) -> tuple[Any, dict[str, Any]]:
        var = ops.clip(x) * ops.value(p["b1"]) + ops.value(p["b2"])
        return _finish(x + ops.normal() * ops.sqrt(var), p, ops)


def salt_pepper(x: Any, ops: Ops, amount: Any, ratio: Any, per_channel: bool) -> Any:
    """Set a fraction ``amount`` of pixels to 1 (fraction ``ratio`` of them) or 0."""
    shape = tuple(x.shape) if per_channel else ops.pixel_shape()
    u, v = ops.uniform(shape), ops.uniform(shape)
    hit = u < ops.value(amount)
    salt = v < ops.value(ratio)
    return ops.where(hit & salt, 1.0, ops.where(hit & ~salt, 0.0, x))


@register_degradation
class SaltPepper(Degradation):
    """Impulse noise: a fraction ``amount`` of pixels set to 1 (salt) or 0 (pepper)."""

    name = "salt-pepper"
    aliases = ("salt-and-pepper", "impulse", "sp")
    summary = "impulse noise: fraction amount of pixels set to 1 (ratio of them) or 0"
    example = "salt-pepper:amount=0.1"
    positional = "amount"
    PARAMS = (
        Param("amount", "float", 0.05, "fraction of pixels corrupted", lo=0, hi=1, show=True),
        Param("ratio", "float", 0.5, "fraction of corrupted pixels set to 1 (salt)", lo=0, hi=1),
        Param("per_channel", "bool", False, "corrupt channels independently, not whole pixels",
              fixed=True),
    )

    def _apply(self, x: Any, p: dict[str, Any], ops: Ops) -> tuple[Any, dict[str, Any]]:
        return salt_pepper(x, ops, p["amount"], p["ratio"], p["per_channel"]), p


@register_degradation
class Speckle(Degradation):
    """Multiplicative noise ``x + x * n``, n ~ N(0, sigma^2), ``sigma`` on the 0-1 scale."""

    name = "speckle"
    aliases = ("multiplicative",)
    summary = "multiplicative noise x + x*n, n ~ N(0, sigma^2), sigma on the 0-1 scale"
    example = "speckle:sigma=0.1"
    positional = "sigma"
    PARAMS = (
        Param("sigma", "float", 0.1, "std of n on the 0-1 scale", lo=0, hi=100, show=True),
        _CLIP_OFF,
    )

    def _apply(self, x: Any, p: dict[str, Any], ops: Ops) -> tuple[Any, dict[str, Any]]:
        return _finish(x + x * ops.normal() * ops.value(p["sigma"]), p, ops)
