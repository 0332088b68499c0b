"""Turn command-line inputs (files, folders, globs) into input/output path pairs.

Rules: a single input file with ``-o name.ext`` writes exactly there; otherwise ``-o`` is a
folder (created) and outputs keep their input names (relative layout kept for folder inputs);
with no ``-o`` the output sits beside its input as ``NAME_<suffix>.ext``. An output that would
replace one of the inputs is refused, whatever ``--overwrite`` says, and so is a second input
whose output would land on the first one's (same name from two folders). An ``-o`` with a
suffix we cannot write (``.webp``) is an error, not a folder, unless it ends with ``/``.
"""

from __future__ import annotations

import glob
import os
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


def expand_inputs(inputs: list[str], *, recursive: bool = False) -> list[tuple[Path, Path]]:
    """Expand files, folders and glob patterns to (file, path relative to its root) pairs.

    Missing paths are kept so the caller reports them as failures in the batch summary.
    Folders contribute their image files only (by suffix), sorted by name.
    """
    found: list[tuple[Path, Path]] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            files = sorted(p for p in path.glob(pattern) if p.is_file() and is_image_file(p))
            found += [(p, p.relative_to(path)) for p in files]
        elif not path.exists() and glob.has_magic(item):
            matches = sorted(Path(m) for m in glob.glob(item, recursive=recursive))
            if not matches:
                found.append((path, Path(path.name)))
            found += [(m, Path(m.name)) for m in matches if m.is_file()]
        else:
            found.append((path, Path(path.name)))
    seen: set[Path] = set()
    unique = []
    for src, rel in found:
        key = src.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((src, rel))
    return unique


def plan_jobs(inputs: list[str], output: str | None, *, suffix: str, recursive: bool = False,
              output_ext: str | None = None) -> list[Job]:
    """Pair every input with its output path following the module rules."""
    pairs = expand_inputs(inputs, recursive=recursive)
    if not pairs:
        raise RestorekitError("no input files given")
    out = Path(output) if output else None
    if (out is not None and out.suffix and out.suffix.lower() not in IMAGE_SUFFIXES
            and not out.is_dir() and not output.endswith(("/", os.sep))):
        raise RestorekitError(
            f"-o {out}: {out.suffix!r} is not an image suffix we write (use one of "
            f"{', '.join(sorted(IMAGE_SUFFIXES))}; for a folder of that name, end it with /)")
    single_file_target = (out is not None and len(pairs) == 1 and not out.is_dir()
                          and out.suffix.lower() in IMAGE_SUFFIXES)
    if out is not None and not single_file_target and out.suffix.lower() in IMAGE_SUFFIXES \
            and not out.is_dir():
        raise RestorekitError(f"-o {out} names a file but there are {len(pairs)} inputs; "
                              "give a folder")
    sources = {src.resolve() for src, _ in pairs}
    jobs = []
    claimed: dict[Path, Path] = {}  # output -> the input it belongs to
    for src, rel in pairs:
        if single_file_target:
            target = out
        elif out is not None:
            target = out / rel
        else:
            target = src.with_name(f"{src.stem}_{suffix}{src.suffix}")
        if output_ext and not single_file_target:
            target = target.with_suffix(output_ext)
        assert target is not None
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
