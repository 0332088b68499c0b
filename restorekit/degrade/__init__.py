"""Degradations: the forward models that damage an image ("what happened to it").

>>> import numpy as np
>>> from restorekit.degrade import parse_spec
>>> d = parse_spec("mask:lower-half+gaussian:sigma=25")
>>> noisy, params = d(np.full((28, 28), 0.5, np.float32), rng=0)
>>> [step["name"] for step in params["steps"]]
['mask', 'gaussian']

See :mod:`restorekit.degrade.base` for the spec grammar. Importing this package does not import
torch; torch batches are handled when they are passed in.
"""

from __future__ import annotations

from restorekit.degrade.base import (
    Chain,
    Choice,
    Degradation,
    DegradationInfo,
    Identity,
    Param,
    ParamInfo,
    Uniform,
    as_generator,
    degrade,
    list_degradations,
    parse_spec,
    register_degradation,
)
from restorekit.degrade.jpeg import JPEG, jpeg_roundtrip
from restorekit.degrade.mask import BoxNoise, Mask, read_mask
from restorekit.degrade.noise import NLF, Gaussian, Poisson, SaltPepper, Speckle
from restorekit.degrade.resample import Resample, downscale, upscale

__all__ = [
    "JPEG",
    "NLF",
    "BoxNoise",
    "Chain",
    "Choice",
    "Degradation",
    "DegradationInfo",
    "Gaussian",
    "Identity",
    "Mask",
    "Param",
    "ParamInfo",
    "Poisson",
    "Resample",
    "SaltPepper",
    "Speckle",
    "Uniform",
    "as_generator",
    "degrade",
    "downscale",
    "jpeg_roundtrip",
    "list_degradations",
    "parse_spec",
    "read_mask",
    "register_degradation",
    "upscale",
]
