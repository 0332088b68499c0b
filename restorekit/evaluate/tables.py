"""Render lists of result rows as a plain text table, markdown, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from typing import Any

FORMATS = ("table", "md", "csv", "json")


def _cell(value: Any, digits: int) -> str:
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.{digits}f}"
    return "" if value is None else str(value)


def format_table(rows: Sequence[dict[str, Any]], fmt: str = "table", *, digits: int = 4,
                 columns: Sequence[str] | None = None) -> str:
    """Format ``rows`` (dicts sharing keys) as ``table``, ``md``, ``csv`` or ``json``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown table format {fmt!r} (choose from {', '.join(FORMATS)})")
    cols = list(columns or (rows[0].keys() if rows else []))
    if fmt == "json":
        clean = [{c: (None if isinstance(r.get(c), float) and math.isinf(r[c]) else r.get(c))
                  for c in cols} for r in rows]
        return json.dumps(clean, indent=2)
    cells = [[_cell(r.get(c), digits) for c in cols] for r in rows]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(cols)
        writer.writerows(cells)
        return buf.getvalue().rstrip("\n")
    if fmt == "md":
        lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in cells]
        return "\n".join(lines)
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c)
              for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)
