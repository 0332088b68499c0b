"""What every benchmark records about where it ran and where the data is."""

from __future__ import annotations

import os
import platform
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what platform reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def default_data() -> Path:
    """$RESTOREKIT_DATA, else ../shared/data beside the repository."""
    env = os.environ.get("RESTOREKIT_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"
