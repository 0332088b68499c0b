"""Form-field validation and how a restore is run (model choice, progress wiring, caching)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from restorekit import api
from restorekit.serve.errors import BadRequest
from restorekit.serve.pipeline import (
    RestoreRequest,
    available_models,
    noise_level,
    parse_request,
    result_pixels,
    run_restore,
)


def test_parse_request_defaults_and_normalises() -> None:
    assert parse_request(None, None, None, None) == RestoreRequest("denoise", "auto", None, None)
    assert parse_request(" SR ", "auto", "", "3.0") == RestoreRequest("sr", "auto", None, 3)
    assert parse_request("denoise", "nlm", "12.5", None).sigma == 12.5


@pytest.mark.parametrize("args,text", [
    (("blur", None, None, None), "unknown task"),
    (("denoise", "../weights.pth", None, None), "unknown model"),
    (("denoise", None, "nan", None), "finite"),
    (("denoise", None, "-1", None), "between 0 and 255"),
    (("sr", None, None, "2.5"), "scale must be one of"),
    (("sr", None, None, ""), "task sr needs a scale: one of 2, 3, 4"),
    (("sr", None, None, None), "task sr needs a scale"),
    (("denoise", "nlm", "12.5", "4"), "scale applies to task sr, not denoise"),
    (("jpeg", None, "10", None), "sigma applies to task denoise, not jpeg"),
    (("sr", None, "10", "2"), "sigma applies to task denoise, not sr"),
])
def test_parse_request_refuses(args: tuple[Any, ...], text: str) -> None:
    with pytest.raises(BadRequest, match=text):
        parse_request(*args)


def test_only_classical_or_shipped_models_are_offered() -> None:
    from restorekit.restorers.base import get_entry

    names = available_models("denoise")
    assert "nlm" in names
    try:
        from restorekit.zoo import zoo_models

        shipped = set(zoo_models())
    except ImportError:
        shipped = set()
    assert all(n in shipped or get_entry(n).kind == "classical" for n in names)


def test_result_pixels() -> None:
    assert result_pixels(10, 20, RestoreRequest("sr", scale=4)) == 3200
    assert result_pixels(10, 20, RestoreRequest("denoise")) == 200


def test_networks_get_a_per_thread_progress_relay(monkeypatch) -> None:
    seen: list[dict[str, Any]] = []

    def fake_restore_task(image, task, *, cache=None, **kwargs):
        seen.append({**kwargs, "cache": cache})
        if "progress" in kwargs:
            kwargs["progress"](3, 4)
        return image, api.RestoreInfo(method="fake")

    monkeypatch.setattr(api, "restore_task", fake_restore_task)
    image = np.zeros((8, 8), np.float32)
    reports: list[tuple[int, int]] = []
    run_restore(image, RestoreRequest("denoise", "dncnn"), progress=lambda d, t:
                reports.append((d, t)))
    assert reports == [(3, 4)]
    run_restore(image, RestoreRequest("denoise", "nlm"), progress=lambda d, t:
                reports.append((d, t)))
    assert "progress" not in seen[1] and reports == [(3, 4)]
    assert seen[0]["cache"] is seen[1]["cache"]  # same thread: same restorer cache
    other: list[Any] = []
    t = threading.Thread(target=lambda: other.append(
        run_restore(image, RestoreRequest("denoise", "nlm"))))
    t.start()
    t.join()
    assert seen[2]["cache"] is not seen[0]["cache"]  # restorers are never shared by threads
    seen[0]["progress"](1, 1)  # after the call the relay no longer reaches the old job
    assert reports == [(3, 4)]


def test_run_restore_reports_what_was_done(helpers) -> None:
    noisy = helpers.noisy_of(helpers.clean_image(), 25.0)
    out, info = run_restore(noisy, RestoreRequest("denoise", "gaussian-filter", sigma=20.0))
    assert out.shape == noisy.shape
    assert info["method"] == "gaussian-filter" and info["width"] == 64
    out, info = run_restore(noisy, RestoreRequest("denoise", "nlm"), estimated_sigma=17.0)
    assert info["sigma"] == 17.0 and info["sigma_estimated"]
    out, info = run_restore(noisy, RestoreRequest("denoise", "nlm", sigma=9.0),
                            estimated_sigma=17.0)
    assert info["sigma"] == 9.0 and not info["sigma_estimated"]  # a given sigma wins
    out, info = run_restore(noisy[:16, :16], RestoreRequest("sr", "auto", scale=2))
    from restorekit.zoo import default_model

    assert out.shape == (32, 32)
    assert info["method"] == (default_model("sr", 1, 2) or "bicubic")


def test_noise_level_estimate(helpers) -> None:
    assert abs(noise_level(helpers.noisy_of(helpers.clean_image(96), 25.0)) - 25) < 3
