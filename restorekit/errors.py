"""Exceptions the toolkit raises for bad input.

The CLI turns any :class:`RestorekitError` into one line on stderr and a non-zero exit; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations


class RestorekitError(Exception):
    """Base class for every error caused by the user's input or environment."""


class ImageReadError(RestorekitError):
    """A file is missing, empty, corrupt, or not an image we can decode."""


class ImageWriteError(RestorekitError):
    """An output cannot be written (exists, unwritable folder, unsupported format)."""


class SpecError(RestorekitError, ValueError):
    """A degradation spec string or one of its parameters is invalid."""


class UnknownNameError(RestorekitError, KeyError):
    """A restorer, network or dataset name is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class MissingDependencyError(RestorekitError, ImportError):
    """An optional package is needed for this feature; the message says how to install it."""


class WeightsError(RestorekitError):
    """Weights or a model card do not match the architecture, or fail their checksum."""


class WeightsMismatchError(WeightsError):
    """Weights that were read but do not fit the network built for them (names or shapes)."""


class InvalidImageError(RestorekitError, ValueError):
    """An image array cannot be used here (wrong shape, NaN values, too small, mismatched)."""
