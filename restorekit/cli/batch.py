"""Run one operation over many files: skip or refuse existing outputs, keep going past bad
files, and end with a summary naming every failure."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import numpy as np

from restorekit.cli.files import Job
from restorekit.cli.state import CliState
from restorekit.errors import RestorekitError

Operation = Callable[[np.ndarray, Any, Path], tuple[np.ndarray, str]]


@dataclass
class BatchResult:
    """Counts of a batch and the failures with their reasons."""

    done: int = 0
    skipped: int = 0
    failures: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0


def run_batch(jobs: list[Job], operation: Operation, state: CliState, *, overwrite: bool = False,
              skip_existing: bool = False, verb: str = "restored",
              read_options: dict[str, Any] | None = None,
              write_options: Callable[[Path], dict[str, Any]] | None = None,
              summarise: bool = True) -> BatchResult:
    """Apply ``operation(image, meta, source) -> (result, status)`` to every job.

    Each result is written atomically with the input's format and bit depth. One line per file
    reports ``status``; a failed file is reported and the batch continues. ``read_options`` go
    to ``read_image`` (e.g. ``max_pixels``); ``write_options(source)``, called after the
    operation, to ``write_image`` (e.g. a JPEG ``quality``). ``summarise=False`` leaves the
    closing summary to the caller (:func:`summarise_batch`).
    """
    from restorekit.io import read_image, write_image

    result = BatchResult()
    bar = state.progress(jobs, desc=verb.capitalize(), unit="img", leave=False) \
        if len(jobs) > 1 else jobs
    for job in bar:
        if job.error or job.target is None:
            result.failures.append((job.source, job.error or "no output path"))
            continue
        if job.target.exists() and not overwrite:
            if skip_existing:
                result.skipped += 1
                continue
            result.failures.append((job.source, f"output {job.target} exists (use --overwrite)"))
            continue
        try:
            image, meta = read_image(job.source, **(read_options or {}))
            out, status = operation(image, meta, job.source)
            _make_folder(job.target.parent)
            write_image(job.target, out, meta, overwrite=overwrite,
                        **(write_options(job.source) if write_options else {}))
        except RestorekitError as exc:
            if state.debug:  # the file's traceback, then on with the batch
                traceback.print_exc(file=click.get_text_stream("stderr"))
            result.failures.append((job.source, str(exc)))
            continue
        except MemoryError:
            result.failures.append((job.source, "not enough memory (try a smaller --tile, or "
                                                "smaller method options)"))
            continue
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch
            if state.debug:
                raise
            result.failures.append((job.source, f"internal error: {type(exc).__name__}: {exc}"))
            continue
        result.done += 1
        state.status(f"{job.source} -> {job.target}  {status}".rstrip())
    if summarise:
        summarise_batch(result, len(jobs), verb, state)
    return result


def gather_ranks(result: BatchResult, total: int) -> tuple[BatchResult, int]:
    """Under ``torchrun``: every rank's result and file count, added up, on every rank.

    Each rank waits here until all have finished their shards, so a rank with a failed file
    does not exit early, which would make ``torchrun`` stop the ranks still working. Shards may
    take very different times, hence the long wait allowed.
    """
    import torch

    from restorekit.train.distributed import all_gather_object, init_distributed

    init_distributed(torch.device("cpu"), timeout=timedelta(days=7))
    parts = all_gather_object((result, total))
    combined = BatchResult(done=sum(r.done for r, _ in parts),
                           skipped=sum(r.skipped for r, _ in parts),
                           failures=sorted((f for r, _ in parts for f in r.failures),
                                           key=lambda f: str(f[0])))
    return combined, sum(n for _, n in parts)


def _make_folder(folder: Path) -> None:
    """Create an output folder (and its parents), or fail with one clear line."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise RestorekitError(f"cannot create the output folder {folder}: a file of that name "
                              "(or of a parent's name) exists") from None
    except OSError as exc:
        raise RestorekitError(f"cannot create the output folder {folder}: "
                              f"{exc.strerror or exc}") from None


def summarise_batch(result: BatchResult, total: int, verb: str, state: CliState) -> None:
    """The closing lines: one error line for a single input, else counts and every failure."""
    err = click.get_text_stream("stderr")
    if result.failures and total == 1:  # one input: one line, as for any other bad input
        path, reason = result.failures[0]
        click.echo(f"restorekit: error: {path}: {reason}", file=err)
    elif result.failures:
        skipped = f", {result.skipped} skipped (exist)" if result.skipped else ""
        click.echo(f"restorekit: {verb} {result.done} of {total} files{skipped}; "
                   f"{len(result.failures)} failed:", file=err)
        for path, reason in result.failures:
            click.echo(f"  {path}: {reason}", file=err)
    elif not state.quiet and total > 1:
        skipped = f", {result.skipped} skipped (exist)" if result.skipped else ""
        click.echo(f"restorekit: {verb} {result.done} of {total} files{skipped}", file=err)
