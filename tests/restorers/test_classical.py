"""Every classical restorer: shapes, dtype, range, PSNR gain, sigma estimation, errors."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

from restorekit.errors import MissingDependencyError, RestorekitError, UnknownNameError
from restorekit.restorers.base import get_entry, list_restorers, load_restorer
from restorekit.restorers.classical import low_rank_denoise

METHODS = [e.name for e in list_restorers("classical")]
DENOISERS = [m for m in METHODS if m != "identity"]
SIGMA = 25.0


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


def _noisy(clean: np.ndarray, sigma: float = SIGMA, seed: int = 0) -> np.ndarray:
    """AWGN on the 0-255 scale, not clipped (values may leave [0, 1], as in benchmarks)."""
    rng = np.random.default_rng(seed)
    return (clean + rng.normal(0.0, sigma / 255.0, clean.shape)).astype(np.float32)


def _skip_if_missing(name: str) -> None:
    extra = get_entry(name).extra
    if extra:
        pytest.importorskip(extra)


def test_registry_has_the_documented_methods() -> None:
    expected = {"identity", "gaussian-filter", "median", "bilateral", "tv", "wavelet", "nlm",
                "low-rank", "bm3d"}
    assert expected <= set(METHODS)
    assert get_entry("bm3d").extra == "bm3d"
    assert all(get_entry(m).paper for m in DENOISERS)


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("shape", [(48, 40), (48, 40, 3)], ids=["gray", "rgb"])
def test_shape_dtype_range(name: str, shape: tuple[int, ...]) -> None:
    _skip_if_missing(name)
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    clean = (0.5 + 0.4 * np.sin(x / 5.0) * np.cos(y / 7.0)).astype(np.float32)
    if len(shape) == 3:
        clean = np.stack([clean, clean[::-1], 1 - clean], axis=-1)
    noisy = _noisy(clean, 30.0)
    assert noisy.min() < 0 or noisy.max() > 1  # unclipped input is accepted
    out = load_restorer(name).restore(noisy, sigma=30.0)
    assert out.shape == noisy.shape
    assert out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("name", DENOISERS)
@pytest.mark.parametrize("colour", [False, True], ids=["gray", "rgb"])
def test_improves_psnr_at_sigma_25(name: str, colour: bool, gray_image: np.ndarray,
                                   rgb_image: np.ndarray) -> None:
    _skip_if_missing(name)
    clean = rgb_image if colour else gray_image
    noisy = _noisy(clean)
    out = load_restorer(name).restore(noisy, sigma=SIGMA)
    before, after = _psnr(np.clip(noisy, 0, 1), clean), _psnr(out, clean)
    assert after > before + 2.0, f"{name}: {before:.2f} -> {after:.2f} dB"


@pytest.mark.parametrize("name", DENOISERS)
def test_sigma_none_is_estimated(name: str, gray_image: np.ndarray,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _skip_if_missing(name)
    import restorekit.noise_estimation as ne

    calls: list[float] = []
    real = ne.estimate_sigma

    def spy(image: np.ndarray) -> float:
        calls.append(real(image))
        return calls[-1]

    monkeypatch.setattr(ne, "estimate_sigma", spy)
    restorer = load_restorer(name)
    assert restorer.uses_sigma
    noisy = _noisy(gray_image, seed=1)
    out = restorer.restore(noisy)
    assert len(calls) == 1 and 15 < calls[0] < 35
    assert _psnr(out, gray_image) > _psnr(np.clip(noisy, 0, 1), gray_image) + 2.0


def test_identity_is_a_clipped_copy(gray_image: np.ndarray) -> None:
    r = load_restorer("identity")
    assert not r.uses_sigma
    noisy = _noisy(gray_image)
    out = r.restore(noisy)
    np.testing.assert_array_equal(out, np.clip(noisy, 0, 1))
    clean_out = r.restore(gray_image)
    assert not np.shares_memory(clean_out, gray_image)  # a copy, never the caller's array
    clean_out[:] = 0
    assert gray_image.max() > 0


def test_sigma_zero_returns_the_input(gray_image: np.ndarray) -> None:
    r = load_restorer("tv")
    out = r.restore(gray_image, sigma=0)
    np.testing.assert_array_equal(out, gray_image)
    assert not np.shares_memory(out, gray_image) and r.last_sigma == 0.0


def test_bad_inputs_raise(gray_image: np.ndarray) -> None:
    r = load_restorer("gaussian-filter")
    with pytest.raises(RestorekitError):
        r.restore(gray_image, sigma=-1)
    with pytest.raises(RestorekitError):
        r.restore(np.zeros((4, 4, 4, 4), np.float32), sigma=10)


def test_single_channel_axis_and_uint8_are_accepted(gray_image: np.ndarray) -> None:
    r = load_restorer("median")
    out = r.restore(_noisy(gray_image)[..., None], sigma=SIGMA)
    assert out.shape == gray_image.shape + (1,)
    out8 = r.restore((gray_image * 255).astype(np.uint8), sigma=5)
    assert out8.dtype == np.float32 and abs(float(out8.mean()) - float(gray_image.mean())) < 0.01


def test_explicit_option_overrides_the_rule(gray_image: np.ndarray) -> None:
    noisy = _noisy(gray_image)
    tuned = load_restorer("gaussian-filter").restore(noisy, sigma=SIGMA)
    wide = load_restorer("gaussian-filter", width=4.0).restore(noisy, sigma=SIGMA)
    assert not np.allclose(tuned, wide)
    assert _psnr(tuned, gray_image) > _psnr(wide, gray_image)


def test_low_rank_function_keeps_constants_and_removes_noise() -> None:
    flat = np.full((40, 36, 1), 0.3, np.float32)
    np.testing.assert_allclose(low_rank_denoise(flat, 0.1), flat, atol=1e-5)
    noise = _noisy(flat, 25.0, seed=3)
    out = low_rank_denoise(noise, 25 / 255)
    assert np.std(out - flat) < 0.3 * np.std(noise - flat)


def test_bm3d_missing_package_raises_a_clear_error(monkeypatch: pytest.MonkeyPatch,
                                                   gray_image: np.ndarray) -> None:
    monkeypatch.setitem(sys.modules, "bm3d", None)  # makes `import bm3d` raise ImportError
    restorer = load_restorer("bm3d")  # building needs no package; restoring does
    with pytest.raises(MissingDependencyError, match=r"pip install 'restorekit\[bm3d\]'") as exc:
        restorer.restore(_noisy(gray_image), sigma=SIGMA)
    assert isinstance(exc.value, ImportError)


def test_unknown_name_suggests_a_close_one() -> None:
    with pytest.raises(UnknownNameError, match="gaussian-filter"):
        load_restorer("gausian-filter")
    with pytest.raises(UnknownNameError, match="bm3d"):
        get_entry("bm3")


def test_importing_classical_does_not_import_torch() -> None:
    code = ("import sys, restorekit.restorers.classical; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize("name", METHODS)
def test_tiny_images(name: str) -> None:
    _skip_if_missing(name)
    r = load_restorer(name)
    for shape in [(2, 2), (5, 7), (3, 40), (9, 3, 3)]:
        img = np.random.default_rng(0).random(shape, dtype=np.float32)
        if name == "bm3d":  # the package's 8x8 blocks
            with pytest.raises(RestorekitError, match="8x8"):
                r.restore(img, sigma=20)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # pywt: level too high for the size
            out = r.restore(img, sigma=20)
        assert out.shape == img.shape and np.isfinite(out).all()


@pytest.mark.parametrize("name,options,message", [
    ("nlm", {"patch_size": -3}, "patch_size must be a finite number >= 0"),  # corrupted memory
    ("nlm", {"patch_size": 0}, "patch_size must be >= 1"),
    ("nlm", {"patch_size": "abc"}, "patch_size must be an integer or none, got 'abc'"),
    ("nlm", {"fast_mode": 1}, "fast_mode must be true or false"),
    ("nlm", {"foo": 1}, "nlm has no option 'foo' (its options: fast_mode, h,"),
    ("tv", {"weight": float("nan")}, "weight must be a finite number >= 0"),
    ("median", {"mode": 3}, "mode must be a text"),
])
def test_bad_options_are_refused_before_the_filter_runs(name: str, options: dict,
                                                        message: str) -> None:
    with pytest.raises(RestorekitError) as info:
        load_restorer(name, **options)
    assert message in str(info.value)


def test_good_options_pass_with_ints_for_floats() -> None:
    nlm = load_restorer("nlm", h=0, patch_size=3, patch_distance=2, fast_mode=False)
    assert (nlm.h, nlm.patch_size, nlm.patch_distance, nlm.fast_mode) == (0, 3, 2, False)
    assert load_restorer("gaussian-filter", width=1).width == 1  # an int where a float is hinted
    assert load_restorer("wavelet", wavelet=None).wavelet is None
