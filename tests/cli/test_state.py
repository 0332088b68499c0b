"""CliState: progress bars, status lines and warnings on stderr."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest

from restorekit.cli.state import CliState


def test_status_lines_clear_the_active_bar_first() -> None:
    # a real process: its sys.stderr is a TextIOWrapper, for which click's stderr stream is
    # another object (and tqdm.write only clears bars on the object it writes to)
    code = ("from restorekit.cli.state import CliState\n"
            "s = CliState()\n"
            "for i in s.progress(range(2), desc='Work', mininterval=0):\n"
            "    s.status(f'line {i}')\n")
    text = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True,
                          timeout=60).stderr.decode()  # bytes: keep the carriage returns
    # each line starts on a cleared row, never glued to the end of a bar
    assert re.search(r"\r +\rline 0\n", text) and re.search(r"\r +\rline 1\n", text), repr(text)
    assert not re.search(r"\]line", text)


def test_quiet_silences_bars_and_status_but_not_warnings(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    state = CliState(quiet=True)
    for _ in state.progress(range(3)):
        state.status("progress")
    state.warn("shifts uncertain")
    assert err.getvalue() == "restorekit: warning: shifts uncertain\n"
