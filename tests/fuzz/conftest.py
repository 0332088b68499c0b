"""Load ``benchmarks/fuzz.py`` (the fuzz targets) as the module ``fuzz_targets``.

The benchmark and these tests share one set of targets; the tests run each with a bounded,
derandomized example count so the suite stays fast and reproducible.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_NAME = "fuzz_targets"
if _NAME not in sys.modules:
    _path = Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz.py"
    _spec = importlib.util.spec_from_file_location(_NAME, _path)
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[_NAME] = _module
    _spec.loader.exec_module(_module)
