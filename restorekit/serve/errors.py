"""Errors of the web app, each carrying the HTTP status it is answered with.

They are :class:`~restorekit.errors.RestorekitError` subclasses, so the same one-line messages
reach a script through the JSON API (``{"detail": "..."}``) and a person through the page.
"""

from __future__ import annotations

from restorekit.errors import RestorekitError


class ServeError(RestorekitError):
    """A request the server refuses; ``status_code`` is the HTTP answer."""

    status_code = 400


class BadRequest(ServeError):
    """A form field is missing or invalid (task, model, sigma, scale, mask)."""


class PayloadTooLarge(ServeError):
    """The upload is larger than the configured byte limit, or the image has too many pixels."""

    status_code = 413


class UnsupportedImage(ServeError):
    """The upload is not an image, or its format is not allowed here."""

    status_code = 415


class UndecodableImage(ServeError):
    """The upload looks like an image but cannot be decoded (corrupt, truncated)."""

    status_code = 422


class JobNotFound(ServeError):
    """No job with that id (never existed, or its result expired)."""

    status_code = 404


class ServerBusy(ServeError):
    """The queue is full; try again later."""

    status_code = 503


class JobTimeout(ServeError):
    """The job did not finish within the request timeout."""

    status_code = 504
