"""What every benchmark records about where it ran and where the data is."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from restorekit.reproduce.report import cpu_model  # noqa: E402

__all__ = ["REPO", "cpu_model", "default_data"]


def default_data() -> Path:
    """$RESTOREKIT_DATA, else ../shared/data beside the repository."""
    env = os.environ.get("RESTOREKIT_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"
