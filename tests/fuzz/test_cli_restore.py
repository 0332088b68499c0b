"""Fuzz ``restorekit restore`` end to end, in-process (bounded example count).

Property: exit 0 with an output that reads back at the input's size, or a non-zero exit with
the failure on one line, no traceback and no output; no temporary file left; input untouched.
"""

from __future__ import annotations

import fuzz_targets as fz

CASES = 80  # benchmarks/fuzz.py runs 2,000


def test_restore_cli_on_corrupted_files(tmp_path) -> None:
    result = fz.cli_target(CASES, seed=0, folder=tmp_path, collect=False)
    assert result.cases == CASES
    assert result.outcomes.get("ok", 0) >= 5 and result.outcomes.get("error", 0) >= CASES // 2


def test_valid_files_restore(tmp_path) -> None:
    for fmt in fz.FORMATS:
        for _, blob in fz.seed_files(fmt)[:2]:
            assert fz.check_cli_restore(blob, fmt, tmp_path) == "ok"


def test_a_bad_file_fails_cleanly(tmp_path) -> None:
    assert fz.check_cli_restore(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "png", tmp_path) == "error"
