"""Per-invocation CLI settings shared by every subcommand, and progress/status helpers."""

from __future__ import annotations

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

    def progress(self, items: Iterable[T], **kwargs: Any) -> Iterable[T]:
        """A tqdm progress bar on stderr, silent with ``--quiet``."""
        from tqdm import tqdm

        return tqdm(items, disable=self.quiet, file=click.get_text_stream("stderr"),
                    dynamic_ncols=True, **kwargs)

    def status(self, message: str) -> None:
        """A status line on stderr that does not break an active progress bar."""
        if not self.quiet:
            from tqdm import tqdm

            tqdm.write(message, file=click.get_text_stream("stderr"))

    def warn(self, message: str) -> None:
        """A ``restorekit: warning:`` line on stderr, shown even with ``--quiet``."""
        from tqdm import tqdm

        tqdm.write(f"restorekit: warning: {message}", file=click.get_text_stream("stderr"))


def get_state() -> CliState:
    """The current invocation's :class:`CliState`."""
    return click.get_current_context().ensure_object(CliState)
