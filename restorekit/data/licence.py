"""What a dataset's own README says about its licence, for the model cards of runs trained on it.

Datasets in ``RESTOREKIT_DATA`` carry a provenance ``README.md``; its licence statement is a
bullet (``- License: ...``, continued on indented lines) or a section whose heading names the
licence. A card copies that text, so weights trained on non-commercial data say so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

_BULLET = re.compile(r"^\s*[-*]\s*Licen[cs]e[^:]*:\s*(.*)$", re.I)
_HEADING = re.compile(r"^#+\s*.*licen[cs]e", re.I)
MAX_CHARS = 600


def readme_licence(folder: str | Path) -> str | None:
    """The licence statement of the README.md in ``folder`` or its parent (a dataset's
    sub-folder), as one line of at most ``MAX_CHARS``; None when there is none."""
    folder = Path(folder)
    for readme in (folder / "README.md", folder.parent / "README.md"):
        if readme.is_file():
            text = _statement(readme.read_text(encoding="utf-8", errors="replace"))
            if text:
                return text if len(text) <= MAX_CHARS else text[:MAX_CHARS - 1] + "…"
    return None


def data_licence(roots: Iterable[str | Path]) -> str:
    """What the README.md beside each training folder says of its licence, in one line for a
    model card (each folder named when there are several)."""
    found = {Path(r).name: readme_licence(r) for r in roots}
    if not any(found.values()):
        return "not stated beside the data; give it as data.licence"
    if len(found) == 1:
        return next(iter(found.values())) or ""
    return "; ".join(f"{name}: {text or 'not stated'}" for name, text in found.items())


def _statement(text: str) -> str | None:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        parts: list[str] = []
        bullet = _BULLET.match(line)
        if bullet:  # the bullet, its indented continuation lines, and a quoted block it ends on
            parts = [bullet.group(1)]
            for more in lines[i + 1:]:
                if not more.startswith((" ", "\t")) or not more.strip():
                    break
                parts.append(more.strip())
            if " ".join(parts).rstrip().endswith(":"):
                parts += _fenced_block(lines[i + len(parts):])
        elif _HEADING.match(line):  # the section under a licence heading
            for more in lines[i + 1:]:
                if more.startswith("#"):
                    break
                if more.strip():
                    parts.append(more.strip().lstrip("-* ").strip())
        statement = " ".join(p for p in parts if p).strip()
        if statement:
            return statement
    return None


def _fenced_block(lines: list[str]) -> list[str]:
    """The lines of a ``` block that starts after at most a blank line (the text quoted)."""
    lines = lines[1:] if lines and not lines[0].strip() else lines
    if not lines or not lines[0].startswith("```"):
        return []
    inside = []
    for line in lines[1:]:
        if line.startswith("```"):
            break
        inside.append(line.strip())
    return inside
