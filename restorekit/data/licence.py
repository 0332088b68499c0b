"""What a dataset's own README says about its licence, for the model cards of runs trained on it.

Datasets in ``RESTOREKIT_DATA`` carry a provenance ``README.md``; its licence statement is a
bullet (``- License: ...``, continued on indented lines) or a section whose heading names the
licence. A card copies that text, so weights trained on non-commercial data say so.
"""

from __future__ import annotations

import re
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


def _statement(text: str) -> str | None:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        bullet = _BULLET.match(line)
        if bullet:  # the bullet and its indented continuation lines
            parts = [bullet.group(1)]
            for more in lines[i + 1:]:
                if not more.startswith((" ", "\t")) or not more.strip():
                    break
                parts.append(more.strip())
            return " ".join(p for p in parts if p).strip() or None
        if _HEADING.match(line):  # the section under a licence heading
            parts = []
            for more in lines[i + 1:]:
                if more.startswith("#"):
                    break
                if more.strip():
                    parts.append(more.strip().lstrip("-* ").strip())
            return " ".join(parts).strip() or None
    return None
