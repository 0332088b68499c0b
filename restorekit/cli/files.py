"""Turn command-line inputs (files, folders, globs) into input/output path pairs.

Rules: a single input file with ``-o name.ext`` writes exactly there; otherwise ``-o`` is a
folder (created) and outputs keep their input names (relative layout kept for folder inputs);
with no ``-o`` the output sits beside its input as ``NAME_<suffix>.ext``. An output that would
replace one of the inputs is refused, whatever ``--overwrite`` says, and so is a second input
whose output would land on the first one's (same name from two folders). An ``-o`` with a
suffix we cannot write (``.webp``) is an error, not a folder, unless it ends with ``/``.
A file found in a folder or by a glob that is another input's output (``x_restored.png``
beside ``x.png``, left by an earlier run) is not an input: re-running a batch replaces
(``--overwrite``) or skips (``--skip-existing``) its old outputs instead of restoring them.

Side files a command also writes (``--params``, ``--plot``, ``--report``) are checked by
:func:`check_side_output` before anything is written.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from restorekit.errors import RestorekitError
from restorekit.io import IMAGE_SUFFIXES, is_image_file


@dataclass(frozen=True)
class Job:
    """One input file and where its result goes (``error`` set when it cannot be run)."""

    source: Path
    target: Path | None
    error: str | None = None


def _expand(inputs: list[str], recursive: bool) -> list[tuple[Path, Path, bool]]:
    """(file, path relative to its root, named on the command line itself) triples."""
    found: list[tuple[Path, Path, bool]] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            files = sorted(p for p in path.glob(pattern) if p.is_file() and is_image_file(p))
            found += [(p, p.relative_to(path), False) for p in files]
        elif not path.exists() and glob.has_magic(item):
            matches = sorted(Path(m) for m in glob.glob(item, recursive=recursive))
            if not matches:
                found.append((path, Path(path.name), True))
            found += [(m, Path(m.name), False) for m in matches if m.is_file()]
        else:
            found.append((path, Path(path.name), True))
    seen: set[Path] = set()
    unique = []
    for src, rel, named in found:
        key = src.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((src, rel, named))
    return unique


def expand_inputs(inputs: list[str], *, recursive: bool = False) -> list[tuple[Path, Path]]:
    """Expand files, folders and glob patterns to (file, path relative to its root) pairs.

    Missing paths are kept so the caller reports them as failures in the batch summary.
    Folders contribute their image files only (by suffix), sorted by name.
    """
    return [(src, rel) for src, rel, _ in _expand(inputs, recursive)]


def check_side_output(path: str | Path, option: str, *, inputs: Iterable[Path],
                      outputs: Iterable[Path] = (), overwrite: bool = False,
                      suffix: str | None = None) -> Path:
    """Refuse a side file (``option`` names it in the message) that would replace an input or
    an output of the same run, is a folder, sits in a missing or read-only folder, exists
    without ``overwrite``, or lacks ``suffix`` (e.g. ``.png`` for a plot); called before
    anything is written, so a bad side file costs no work and leaves no output behind."""
    path = Path(path)
    if suffix is not None and path.suffix.lower() != suffix:
        raise RestorekitError(f"{option} {path}: this is written as {suffix[1:].upper()}; "
                              f"give a name ending in {suffix}")
    key = path.resolve()
    if key in {p.resolve() for p in inputs}:
        raise RestorekitError(f"{option} {path} is one of the inputs; refusing to overwrite "
                              "an input")
    if key in {p.resolve() for p in outputs}:
        raise RestorekitError(f"{option} {path} is also an output of this run")
    if path.is_dir():
        raise RestorekitError(f"{option} {path} is a folder; give a file name")
    if not path.parent.resolve().is_dir():
        raise RestorekitError(f"{option} {path}: folder {path.parent} does not exist")
    if not os.access(path.parent.resolve(), os.W_OK):
        raise RestorekitError(f"{option} {path}: folder {path.parent} is not writable")
    if path.exists() and not overwrite:
        raise RestorekitError(f"{option} {path} already exists (use --overwrite)")
    return path


def plan_jobs(inputs: list[str], output: str | None, *, suffix: str, recursive: bool = False,
              output_ext: str | None = None) -> list[Job]:
    """Pair every input with its output path following the module rules."""
    found = _expand(inputs, recursive)
    if not found:
        hint = "" if recursive else "; -r descends into sub-folders"
        raise RestorekitError(f"no image files in {', '.join(inputs)} (by suffix: "
                              f"{', '.join(sorted(IMAGE_SUFFIXES))}{hint})" if inputs
                              else "no input files given")
    out = Path(output) if output else None
    if (out is not None and out.suffix and out.suffix.lower() not in IMAGE_SUFFIXES
            and not out.is_dir() and not output.endswith(("/", os.sep))):
        raise RestorekitError(
            f"-o {out}: {out.suffix!r} is not an image suffix we write (use one of "
            f"{', '.join(sorted(IMAGE_SUFFIXES))}; for a folder of that name, end it with /)")
    single_file_target = (out is not None and len(found) == 1 and not out.is_dir()
                          and out.suffix.lower() in IMAGE_SUFFIXES)
    if out is not None and not single_file_target and out.suffix.lower() in IMAGE_SUFFIXES \
            and not out.is_dir():
        raise RestorekitError(f"-o {out} names a file but there are {len(found)} inputs; "
                              "give a folder")

    def target_of(src: Path, rel: Path) -> Path:
        if single_file_target:
            return Path(output)
        target = out / rel if out is not None else src.with_name(
            f"{src.stem}_{suffix}{src.suffix}")
        return target.with_suffix(output_ext) if output_ext else target

    owners: dict[Path, set[Path]] = {}  # output -> the inputs it belongs to
    for src, rel, _ in found:
        owners.setdefault(target_of(src, rel).resolve(), set()).add(src.resolve())
    # a file found in a folder that another input's output would replace is an earlier output
    pairs = [(src, rel) for src, rel, named in found
             if named or not owners.get(src.resolve(), set()) - {src.resolve()}]
    sources = {src.resolve() for src, _ in pairs}
    jobs = []
    claimed: dict[Path, Path] = {}  # output -> the input it belongs to
    for src, rel in pairs:
        target = target_of(src, rel)
        key = target.resolve()
        if key in sources:
            jobs.append(Job(src, None, f"output {target} would overwrite an input"))
        elif key in claimed:
            jobs.append(Job(src, None, f"output {target} is already the output of "
                                       f"{claimed[key]} (same name; give separate -o folders)"))
        else:
            claimed[key] = src
            jobs.append(Job(src, target))
    return jobs
