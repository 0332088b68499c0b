"""What every benchmark records about where it ran and where the data is."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from restorekit.reproduce.report import cpu_model  # noqa: E402

__all__ = ["REPO", "command_line", "cpu_model", "default_data", "run_stamp", "write_report"]


def default_data() -> Path:
    """$RESTOREKIT_DATA, else ../shared/data beside the repository."""
    env = os.environ.get("RESTOREKIT_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def command_line(script: str, argv: Sequence[str] | None) -> str:
    """The command that regenerates a report: ``python benchmarks/SCRIPT`` and its arguments."""
    return f"python benchmarks/{script}" + "".join(
        f" {a}" for a in (argv if argv is not None else sys.argv[1:]))


def run_stamp(total_seconds: float, remark: str = "") -> str:
    """A report's "- Date:" line: when, how long, and the load average at the end."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return (f"- Date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}; total "
            f"{total_seconds / 60:.1f} min; load average at the end {load[0]:.2f} / "
            f"{load[1]:.2f} / {load[2]:.2f}" + (f" ({remark})" if remark else ""))


def write_report(path: Path, text: str) -> None:
    """Write a report atomically (its folder created) and say where."""
    from restorekit.atomic import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    print(f"wrote {path}")
