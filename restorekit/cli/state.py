"""Per-invocation CLI settings shared by every subcommand, and progress/status helpers."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

T = TypeVar("T")


@dataclass
class CliState:
    """Global flags: ``--debug`` (tracebacks) and ``--quiet`` (no progress or status)."""

    debug: bool = False
    quiet: bool = False

    # Bars and lines go to the one object sys.stderr, as the library's own bars (tiles,
    # training) do: tqdm.write clears only bars on the stream object it writes to, and
    # click.get_text_stream("stderr") returns a new wrapper on each call.

    def progress(self, items: Iterable[T], **kwargs: Any) -> Iterable[T]:
        """A tqdm progress bar on stderr, silent with ``--quiet``."""
        from tqdm import tqdm

        return tqdm(items, disable=self.quiet, file=sys.stderr, dynamic_ncols=True, **kwargs)

    def status(self, message: str) -> None:
        """A status line on stderr that does not break an active progress bar."""
        if not self.quiet:
            from tqdm import tqdm

            tqdm.write(message, file=sys.stderr)

    def warn(self, message: str) -> None:
        """A ``restorekit: warning:`` line on stderr, shown even with ``--quiet``."""
        from tqdm import tqdm

        tqdm.write(f"restorekit: warning: {message}", file=sys.stderr)


def get_state() -> CliState:
    """The current invocation's :class:`CliState`."""
    return click.get_current_context().ensure_object(CliState)
