"""A reproduction report: markdown sections, tables and figures, written atomically."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from restorekit.atomic import atomic_write_text
from restorekit.evaluate.tables import format_table


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what platform reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@dataclass
class Report:
    """Markdown blocks in order; figures are referenced relative to the report's folder."""

    blocks: list[str] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(f"{'#' * level} {text}")

    def text(self, text: str) -> None:
        self.blocks.append(text.strip())

    def table(self, rows: Sequence[dict[str, Any]], *, digits: int = 4,
              columns: Sequence[str] | None = None) -> None:
        self.blocks.append(format_table(list(rows), "md", digits=digits, columns=columns))

    def figure(self, path: str | os.PathLike[str], caption: str, *,
               relative_to: str | os.PathLike[str]) -> None:
        rel = os.path.relpath(path, relative_to)
        self.blocks.append(f"![{caption}]({Path(rel).as_posix()})\n\n*{caption}*")

    def render(self, header: Sequence[str] = ()) -> str:
        return "\n".join(header) + "\n" + "\n\n".join(self.blocks) + "\n"

    def write(self, path: str | os.PathLike[str], header: Sequence[str] = ()) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write_text(path, self.render(header))
