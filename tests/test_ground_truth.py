"""Ground-truth estimation from bursts (restorekit/ground_truth.py), on small synthetic bursts."""

from __future__ import annotations

import numpy as np
import pytest

from restorekit.errors import InvalidImageError
from restorekit.ground_truth import (
    LOW_TEXTURE_SNR,
    WARNING,
    correct_defects,
    estimate_ground_truth,
    estimate_shift,
    find_defects,
    make_synthetic_burst,
    shift_image,
    tukey_mean,
)
from restorekit.metrics import psnr


def scene(h: int = 64, w: int = 64, rgb: bool = False) -> np.ndarray:
    """A textured test scene (sinusoids plus a bright box), float32 in [0.05, 0.95]."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = 0.5 + 0.2 * np.sin(x / 3.1) * np.cos(y / 4.3) + 0.15 * np.sin((x + 2 * y) / 5.7)
    img[16:40, 12:30] += 0.2
    img = np.clip(img, 0.05, 0.95)
    if rgb:
        img = np.stack([img, np.flipud(img), 1 - img], axis=-1)
    return img.astype(np.float32)


@pytest.fixture(scope="module")
def gray_burst():
    clean = scene()
    return clean, make_synthetic_burst(clean, 16, seed=3)


@pytest.fixture(scope="module")
def gray_result(gray_burst):
    clean, burst = gray_burst
    return estimate_ground_truth(burst.frames[:8], reference=0)


@pytest.mark.parametrize("rgb", [False, True])
def test_shifts_recovered_to_a_quarter_pixel(rgb: bool) -> None:
    clean = scene(rgb=rgb)
    burst = make_synthetic_burst(clean, 8, seed=5)
    _, report = estimate_ground_truth(burst.frames, reference=0)
    assert report.shifts.shape == (8, 2)
    assert np.all(report.shifts[0] == 0)
    err = np.abs(report.shifts - burst.shifts).max(axis=1)
    kept = report.kept
    assert burst.bad_frame not in kept
    assert err[kept].max() < 0.25, err
    assert np.abs(burst.shifts[kept]).max() > 1.0  # the shifts were not trivially small


def test_bad_frame_dropped_and_only_it(gray_result, gray_burst) -> None:
    _, burst = gray_burst
    _, report = gray_result
    assert report.dropped == [burst.bad_frame]
    assert report.z_scores[burst.bad_frame] > 6
    others = np.delete(report.z_scores, burst.bad_frame)
    assert np.all(others < 3.5)


def test_hot_pixels_found_and_removed(gray_result, gray_burst) -> None:
    clean, burst = gray_burst
    estimate, report = gray_result
    found = np.zeros(clean.shape, dtype=bool)
    found[report.defects[:, 0], report.defects[:, 1]] = True
    visible = burst.defects & (np.abs(burst.frames[0] - clean) > 0.2)
    assert visible.sum() >= 5
    assert (found & visible).sum() >= 0.9 * visible.sum()
    assert (found & ~burst.defects).sum() <= 3
    # in the estimate no defect survives: none is far from the clean value
    assert np.abs(estimate - clean)[burst.defects].max() < 0.1
    # the plain mean keeps them
    assert np.abs(np.mean(burst.frames[:8], axis=0) - clean)[visible].max() > 0.2


def test_gains_and_offsets_recovered(gray_result, gray_burst) -> None:
    _, burst = gray_burst
    _, report = gray_result
    kept = report.kept
    assert report.gains[0] == 1.0 and report.offsets[0] == 0.0
    assert np.abs(report.gains[kept] - burst.gains[kept]).max() < 0.04
    assert np.abs(report.offsets[kept] - burst.offsets[kept]).max() < 0.02


def test_psnr_grows_with_frames_and_beats_naive(gray_burst) -> None:
    clean, burst = gray_burst
    ours, mean, median = [], [], []
    for n in (2, 4, 8, 16):
        frames = burst.frames[:n]
        est, _ = estimate_ground_truth(frames, reference=0)
        ours.append(psnr(est, clean))
        mean.append(psnr(np.mean(frames, axis=0), clean))
        median.append(psnr(np.median(frames, axis=0), clean))
    assert all(b > a + 0.5 for a, b in zip(ours, ours[1:], strict=False)), ours
    assert all(o > m + 2 for o, m in zip(ours, mean, strict=True)), (ours, mean)
    assert all(o > m + 2 for o, m in zip(ours, median, strict=True)), (ours, median)
    assert ours[-1] > psnr(burst.frames[0], clean) + 8  # 16 frames: far cleaner than one shot


def test_rgb_burst_estimate(rgb_seed: int = 2) -> None:
    clean = scene(rgb=True)
    burst = make_synthetic_burst(clean, 8, seed=rgb_seed)
    est, report = estimate_ground_truth(burst.frames, reference=0)
    assert est.shape == clean.shape and est.dtype == np.float32
    assert report.dropped == [burst.bad_frame]
    assert psnr(est, clean) > psnr(np.mean(burst.frames, axis=0), clean) + 4
    assert psnr(est, clean) > psnr(burst.frames[0], clean) + 6


def test_auto_reference_avoids_bad_frame_and_shifts_are_relative(gray_burst) -> None:
    clean, burst = gray_burst
    frames = burst.frames[:8]
    est, report = estimate_ground_truth(frames)
    ref = report.reference
    assert ref != burst.bad_frame
    assert np.all(report.shifts[ref] == 0)
    rel = burst.shifts[:8] - burst.shifts[ref]
    err = np.abs(report.shifts - rel).max(axis=1)
    assert err[report.kept].max() < 0.25
    # the estimate is in the reference's coordinates: it matches the clean scene moved there
    moved = shift_image(clean, -burst.shifts[ref])[0]
    m = 5
    assert psnr(est[m:-m, m:-m], moved[m:-m, m:-m]) > 28


def test_each_stage_matters(gray_burst) -> None:
    clean, burst = gray_burst
    frames = burst.frames[:8]
    full = psnr(estimate_ground_truth(frames, reference=0)[0], clean)
    for off in ({"align": False}, {"drop_outliers": False, "estimator": "mean"},
                {"estimator": "median"}):
        worse = psnr(estimate_ground_truth(frames, reference=0, **off)[0], clean)
        assert worse < full - 0.3, (off, worse, full)
    # the robust estimate matters when single frames carry impulses
    spiky = make_synthetic_burst(clean, 6, seed=5, impulse_fraction=0.01)
    full = psnr(estimate_ground_truth(spiky.frames, reference=0)[0], clean)
    worse = psnr(estimate_ground_truth(spiky.frames, reference=0, estimator="mean")[0], clean)
    assert worse < full - 1.0, (worse, full)
    # intensity alignment matters when the exposure changes a lot between shots
    varied = make_synthetic_burst(clean, 6, seed=4, gain_jitter=0.25, offset_jitter=0.05)
    full = psnr(estimate_ground_truth(varied.frames, reference=0)[0], clean)
    worse = psnr(estimate_ground_truth(varied.frames, reference=0, align_intensity=False)[0],
                 clean)
    assert worse < full - 1.0, (worse, full)
    # defects are few pixels (little PSNR), but without correction a plain mean keeps them
    with_fix = estimate_ground_truth(frames, reference=0, estimator="mean")[0]
    without = estimate_ground_truth(frames, reference=0, estimator="mean",
                                    correct_defective=False)[0]
    assert np.abs(without - clean).max() > np.abs(with_fix - clean).max() + 0.02


def test_deterministic_and_logs_stages(gray_burst) -> None:
    _, burst = gray_burst
    lines: list[str] = []
    a, rep = estimate_ground_truth(burst.frames[:4], reference=0, log=lines.append)
    b, _ = estimate_ground_truth(burst.frames[:4], reference=0)
    assert np.array_equal(a, b)
    assert lines == rep.lines
    for stage in ("defective pixels", "reference", "alignment", "intensity", "outlier frames",
                  "estimate"):
        assert any(line.startswith(stage) for line in lines), (stage, lines)
    assert rep.to_dict()["dropped"] == rep.dropped


def test_synthetic_burst_is_seeded() -> None:
    clean = scene(32, 32)
    a = make_synthetic_burst(clean, 3, seed=7)
    b = make_synthetic_burst(clean, 3, seed=7)
    c = make_synthetic_burst(clean, 3, seed=8)
    assert all(np.array_equal(x, y) for x, y in zip(a.frames, b.frames, strict=True))
    assert not np.array_equal(a.frames[1], c.frames[1])
    assert np.all(a.shifts[0] == 0) and a.gains[0] == 1


def test_clean_identical_frames_are_left_alone() -> None:
    clean = scene(32, 40)
    est, report = estimate_ground_truth([clean, clean, clean])
    assert len(report.defects) == 0 and report.dropped == []
    assert np.allclose(report.shifts, 0, atol=1e-3)
    assert np.abs(est - clean).max() < 1e-3


def test_featureless_bursts_are_flagged_and_textured_ones_not(gray_result) -> None:
    _, textured = gray_result
    assert textured.texture_snr > 2 * LOW_TEXTURE_SNR and not textured.low_confidence
    assert not any(line.startswith(WARNING) for line in textured.lines)
    y, x = np.mgrid[0:64, 0:64].astype(np.float32)
    for clean in (np.full((64, 64), 0.5, np.float32),  # flat: any "shift" fits
                  (0.5 + 0.2 * np.sin(x / 3.0)).astype(np.float32)):  # stripes: none along y
        burst = make_synthetic_burst(clean, 8, seed=1, bad_frame=None)
        _, rep = estimate_ground_truth(burst.frames)
        assert rep.low_confidence and rep.texture_snr < LOW_TEXTURE_SNR
        assert rep.to_dict()["low_confidence"] is True
        assert any(line.startswith(WARNING + "low confidence") for line in rep.lines)
    _, unaligned = estimate_ground_truth(burst.frames, align=False)
    assert np.isnan(unaligned.texture_snr) and not unaligned.low_confidence
    assert unaligned.to_dict()["texture_snr"] is None


# ----------------------------------------------------------------------------- the pieces


@pytest.mark.parametrize("true", [(1.3, -2.7), (-0.4, 0.25), (3.0, 0.0)])
def test_estimate_shift_noise_free_and_convention(true: tuple[float, float]) -> None:
    from scipy import ndimage as ndi

    clean = scene()
    frame = ndi.shift(clean, true, order=3, mode="nearest")  # scene moved by +true
    d = estimate_shift(clean, frame)
    assert np.abs(d - np.array(true)).max() < 0.02
    coarse = estimate_shift(clean, frame, refine=False)
    assert np.abs(coarse - np.array(true)).max() < 0.5


def test_shift_image_valid_mask() -> None:
    img = scene(20, 30)
    out, valid = shift_image(img, (2.5, -1.0))
    assert out.shape == img.shape
    # aligned(y, x) = img(y + 2.5, x - 1): rows >= 17 and column 0 come from outside
    assert not valid[17:, :].any() and not valid[:, 0].any()
    assert valid[:17, 1:].all()
    same, all_valid = shift_image(img, (0, 0))
    assert np.array_equal(same, img) and all_valid.all()


def test_find_and_correct_defects_including_a_pair() -> None:
    rng = np.random.default_rng(0)
    clean = scene(40, 40)
    frames = np.stack([clean + 0.02 * rng.standard_normal(clean.shape) for _ in range(5)])
    frames = frames.astype(np.float32)
    frames[:, 10, 10] = 1.0          # stuck high
    frames[:, 20, 20] = 1.0          # an adjacent pair
    frames[:, 20, 21] = 1.0
    frames[:, 30, 5] = 0.0           # dead
    frames[2, 5, 30] = 1.0           # a transient spike in one frame is not a defect
    mask = find_defects(frames)[..., 0]
    assert set(zip(*np.nonzero(mask), strict=True)) == {(10, 10), (20, 20), (20, 21), (30, 5)}
    fixed = correct_defects(frames, mask)
    assert fixed.shape == frames.shape
    for y, x in ((10, 10), (20, 20), (20, 21), (30, 5)):
        assert np.abs(fixed[:, y, x] - clean[y, x]).max() < 0.1
    assert np.array_equal(fixed[:, ~mask], frames[:, ~mask])


def test_tukey_mean_rejects_gross_outliers() -> None:
    rng = np.random.default_rng(1)
    x = 0.5 + 0.01 * rng.standard_normal((9, 50)).astype(np.float32)
    x[0] = 1.0  # one gross outlier per pixel
    mu = tukey_mean(x, scale=0.01)
    assert np.abs(mu - 0.5).max() < 0.02
    assert np.abs(x.mean(axis=0) - 0.5).min() > 0.04
    valid = np.ones_like(x, dtype=bool)
    valid[1:] = False  # only the outlier is valid: it is the estimate
    assert np.allclose(tukey_mean(x, valid, 0.01), 1.0)


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        ([np.zeros((16, 16))], "at least 2 frames"),
        ([np.zeros((16, 16)), np.zeros((16, 17))], "same size"),
        ([np.zeros((16, 16)), np.zeros((16, 16, 3))], "same size"),
        ([np.zeros((16, 16, 4)), np.zeros((16, 16, 4))], "expected HxW or HxWx3"),
        ([np.zeros((4, 4)), np.zeros((4, 4))], "at least 8x8"),
        ([np.zeros((16, 16)), np.full((16, 16), np.nan)], "NaN"),
    ],
)
def test_bad_input_raises(frames: list[np.ndarray], message: str) -> None:
    with pytest.raises(InvalidImageError, match=message):
        estimate_ground_truth(frames)


def test_bad_options_raise() -> None:
    frames = [scene(16, 16)] * 3
    with pytest.raises(InvalidImageError, match="out of range"):
        estimate_ground_truth(frames, reference=3)
    with pytest.raises(InvalidImageError, match="estimator"):
        estimate_ground_truth(frames, estimator="mode")
    with pytest.raises(InvalidImageError, match="passes"):
        estimate_ground_truth(frames, passes=0)


def test_row_blocks_give_the_same_result(gray_burst, monkeypatch: pytest.MonkeyPatch) -> None:
    import restorekit.ground_truth as gt

    _, burst = gray_burst
    frames = [f.copy() for f in burst.frames[:6]]
    whole, rep_whole = estimate_ground_truth(frames, reference=0)
    monkeypatch.setattr(gt, "_BLOCK_VALUES", 3000)  # 6 frames x 64 columns: 7-row blocks
    assert len(gt._row_blocks((6, 64, 64, 1))) == 10
    blocks, rep_blocks = estimate_ground_truth(frames, reference=0)
    assert np.abs(whole - blocks).max() < 1e-4
    assert rep_whole.dropped == rep_blocks.dropped
    assert np.allclose(rep_whole.shifts, rep_blocks.shifts, atol=1e-4)
    # the caller's frames are left as they were
    assert all(np.array_equal(a, b) for a, b in zip(frames, burst.frames[:6], strict=True))
