"""Fuzz ``parse_spec`` and the degradations it builds (bounded example count).

Property: a Degradation or a SpecError; a parsed degradation on small numpy and torch images
gives the input's shape and dtype, finite, or raises a RestorekitError.
"""

from __future__ import annotations

import fuzz_targets as fz
import numpy as np
import pytest

from restorekit.degrade import parse_spec
from restorekit.errors import SpecError

CASES = 200  # benchmarks/fuzz.py runs 10,000


def test_random_specs_parse_or_fail_cleanly() -> None:
    result = fz.spec_target(CASES, seed=0, collect=False)  # a failure is raised and shrunk
    assert result.cases == CASES
    # Not vacuous: many strings parse (and their degradations run), many are rejected.
    assert result.outcomes.get("parsed", 0) >= CASES // 5
    assert result.outcomes.get("rejected", 0) >= CASES // 5


@pytest.mark.parametrize("spec", ["poisson:peak=5e-324", "poisson:peak=1e-200",
                                  "poisson:peak=0.0001"])
def test_tiny_poisson_peak_is_rejected(spec: str) -> None:
    """Found by fuzzing: counts / 5e-324 overflowed to inf (and inf * 0 to NaN)."""
    with pytest.raises(SpecError, match="peak"):
        parse_spec(spec)


def test_smallest_poisson_peak_and_huge_rates_stay_finite() -> None:
    image = np.full((8, 8), 0.5, np.float32)
    out, _ = parse_spec("poisson:peak=0.001")(image, 0)
    assert np.isfinite(out).all()
    # Found by fuzzing: a chain can hand poisson values whose rate numpy refuses ("lam value
    # too large"); the rate is capped instead.
    out, _ = parse_spec("poisson:peak=10000000")(np.full((4, 4), 1e30, np.float32), 0)
    assert np.isfinite(out).all() and out.min() > 1e7


def test_a_broken_degradation_is_reported() -> None:
    with pytest.raises(fz.FuzzFailure, match=r"output ndarray \(2, 3\)"):
        fz._check_degraded(np.zeros((2, 2), np.float32), np.zeros((2, 3), np.float32),
                           {"name": "x"}, "x")
