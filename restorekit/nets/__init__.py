"""Network architectures (``nn.Module`` only), one file per family, each citing its paper.

Importing this package registers every architecture in the restorer registry.

Conventions every net follows:
- ``forward(x)`` takes an NxCxHxW float batch in [0, 1] and returns the same shape; any H, W
  works (nets pad to the multiple they need and crop back).
- attributes ``in_channels`` and ``out_channels``;
- nets that take a noise level set ``accepts_sigma = True`` and have ``forward(x, sigma=None)``
  with ``sigma`` a float or an (N,) tensor on the 0-1 scale.
"""

from restorekit.nets import (  # noqa: F401  (imported to register)
    autoencoder,
    cnn_lstm,
    dncnn,
    dsc,
    edsr,
    memnet,
    rednet,
    unet,
)
