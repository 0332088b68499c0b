"""PatchDataset: seeding across epochs and workers, cropping, augmentation, colour, degradation,
pair alignment, and the make_dataset entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from torch.utils.data import DataLoader

from restorekit.data import KINDS, make_dataset
from restorekit.data.patches import (
    PatchDataset,
    _reflect,
    _window,
    convert_color,
    parse_augment,
    shift_hue,
)
from restorekit.errors import RestorekitError, SpecError, UnknownNameError

REPO = Path(__file__).resolve().parents[2]


class ArraySource:
    """An in-memory source: clean images, optional noisy partners and labels."""

    def __init__(self, images: list[np.ndarray], noisy: list[np.ndarray] | None = None,
                 labels: list[int] | None = None) -> None:
        self.images, self.noisy, self.labels = images, noisy, labels
        self.paired = noisy is not None
        self.labelled = labels is not None

    def __len__(self) -> int:
        return len(self.images)

    def get(self, i: int) -> dict[str, Any]:
        item: dict[str, Any] = {"clean": self.images[i]}
        if self.noisy is not None:
            item["noisy"] = self.noisy[i]
        if self.labels is not None:
            item["label"] = self.labels[i]
        return item


def ramp(h: int = 40, w: int = 48, rgb: bool = False) -> np.ndarray:
    """An image with no symmetry: every pixel value distinct."""
    img = (np.arange(h * w, dtype=np.float64).reshape(h, w) * 255 // (h * w)).astype(np.uint8)
    img[:5, :3] = 255
    if rgb:
        return np.stack([img, img[::-1], np.full_like(img, 60)], axis=-1)
    return img


def as_np(t: torch.Tensor) -> np.ndarray:
    return t.numpy()


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_samples_other_epoch_other_samples() -> None:
    src = ArraySource([ramp(), ramp(30, 30)])
    a = PatchDataset(src, patch_size=16, degradation="gaussian:sigma=0-50", augment=["flip"],
                     seed=3, length=20)
    b = PatchDataset(src, patch_size=16, degradation="gaussian:sigma=0-50", augment=["flip"],
                     seed=3, length=20)
    for i in range(20):
        torch.testing.assert_close(a[i]["input"], b[i]["input"], rtol=0, atol=0)
        torch.testing.assert_close(a[i]["sigma"], b[i]["sigma"])
    first = [a[i]["input"] for i in range(20)]
    a.set_epoch(1)
    assert a.epoch == 1
    assert sum(torch.equal(x, a[i]["input"]) for i, x in enumerate(first)) == 0
    c = PatchDataset(src, patch_size=16, degradation="gaussian:sigma=0-50", seed=4, length=20)
    assert not torch.equal(c[0]["input"], b[0]["input"])


def test_whole_images_are_fixed_across_epochs() -> None:
    ds = PatchDataset(ArraySource([ramp(), ramp(20, 24)]), patch_size=None,
                      degradation="gaussian:sigma=25")
    assert len(ds) == 2 and ds[1]["input"].shape == (1, 20, 24)
    before = ds[0]["input"]
    ds.set_epoch(5)
    torch.testing.assert_close(ds[0]["input"], before, rtol=0, atol=0)
    training = PatchDataset(ArraySource([ramp()]), patch_size=None, fixed=False,
                            degradation="gaussian:sigma=25")
    x0 = training[0]["input"]
    training.set_epoch(1)
    assert not torch.equal(training[0]["input"], x0)
    with pytest.raises(IndexError):
        ds[2]


def _batches(ds: PatchDataset, workers: int, persistent: bool = False,
             epochs: tuple[int, ...] = (0,)) -> list[list[torch.Tensor]]:
    loader = DataLoader(ds, batch_size=4, shuffle=False, num_workers=workers,
                        persistent_workers=persistent)
    out = []
    for e in epochs:
        ds.set_epoch(e)
        out.append([torch.cat([b["input"], b["target"], b["sigma"].view(-1, 1, 1, 1)
                              .expand(-1, 1, 1, b["input"].shape[-1])], dim=2) for b in loader])
    return out


def test_identical_batches_for_any_worker_count() -> None:
    ds = PatchDataset(ArraySource([ramp(), ramp(30, 34)]), patch_size=12,
                      degradation="gaussian:sigma=5-30", augment=["flip", "rot90", "brightness"],
                      seed=11, length=8)
    serial = _batches(ds, 0, epochs=(0, 1))
    parallel = _batches(ds, 2, persistent=True, epochs=(0, 1))  # set_epoch reaches workers
    for s_epoch, p_epoch in zip(serial, parallel, strict=True):
        for s, p in zip(s_epoch, p_epoch, strict=True):
            torch.testing.assert_close(s, p, rtol=0, atol=0)
    assert not torch.equal(serial[0][0], serial[1][0])


# --------------------------------------------------------------------------- cropping


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 9), start=st.integers(-30, 30), size=st.integers(1, 40))
def test_reflect_matches_numpy_pad(n: int, start: int, size: int) -> None:
    line = np.arange(n)
    pad = 80
    padded = np.pad(line, pad, mode="reflect") if n > 1 else np.zeros(n + 2 * pad, int)
    expected = padded[start + pad:start + pad + size]
    np.testing.assert_array_equal(line[_reflect(np.arange(start, start + size), n)], expected)


def test_window_inside_is_a_view_and_outside_reflects() -> None:
    img = ramp()
    inside = _window(img, 3, 4, 10)
    assert np.shares_memory(inside, img)
    np.testing.assert_array_equal(_window(img, -2, -1, 4)[2:, 1:], img[:2, :3])
    np.testing.assert_array_equal(_window(img, -2, 0, 4)[0], img[2, :4])


def test_small_images_are_reflect_padded_to_the_patch() -> None:
    small = ramp(10, 12)
    ds = PatchDataset(ArraySource([small]), patch_size=32, length=30)
    values = set(np.unique(small / 255.0).astype(np.float32).tolist())
    for i in range(30):
        patch = as_np(ds[i]["target"])[0]
        assert patch.shape == (32, 32)
        assert set(np.unique(patch).tolist()) <= values
        assert len(np.unique(patch)) == len(values)  # the whole image is inside the patch


def test_patches_come_from_the_image() -> None:
    img = ramp()
    ds = PatchDataset(ArraySource([img]), patch_size=8, length=50)
    ref = img / np.float32(255)
    tops = set()
    for i in range(50):
        patch = as_np(ds[i]["target"])[0]
        hits = [(t, l) for t in range(33) for l in range(41)
                if np.array_equal(ref[t:t + 8, l:l + 8], patch)]
        assert len(hits) == 1
        tops.add(hits[0][0])
    assert len(tops) > 10  # positions vary


# --------------------------------------------------------------------------- augmentation


def test_parse_augment() -> None:
    steps = parse_augment(["flip", "rotate:30", "hue", "brightness:0.5", "up_down_flip"])
    assert [(a.name, a.amount) for a in steps] == [("flip", None), ("rotate", 30.0),
                                                   ("hue", 0.1), ("brightness", 0.5),
                                                   ("vflip", None)]
    assert [a.name for a in parse_augment("flip,rot90")] == ["flip", "rot90"]
    with pytest.raises(UnknownNameError, match="known: flip"):
        parse_augment(["mirror"])
    with pytest.raises(RestorekitError, match="takes no amount"):
        parse_augment(["flip:2"])
    with pytest.raises(RestorekitError, match="bad amount"):
        parse_augment(["hue:lots"])
    assert parse_augment(["scale"])[0].amount == 0.6
    with pytest.raises(RestorekitError, match=r"in \(0, 1\]"):
        parse_augment(["scale:1.5"])


def _orientations(augment: list[str], n: int = 400) -> dict[str, int]:
    img = ramp(24, 24)
    ref = img / np.float32(255)
    ds = PatchDataset(ArraySource([img]), patch_size=24, augment=augment, length=n, seed=1)
    forms = {"id": ref, "h": ref[:, ::-1], "v": ref[::-1], "hv": ref[::-1, ::-1],
             "r1": np.rot90(ref, 1), "r3": np.rot90(ref, 3), "t": ref.T,
             "at": np.rot90(ref, 1)[::-1]}
    counts = dict.fromkeys(forms, 0)
    for i in range(n):
        out = as_np(ds[i]["target"])[0]
        match = [k for k, f in forms.items() if np.array_equal(out, f)]
        assert len(match) == 1
        counts[match[0]] += 1
    return counts


def test_flips_happen_about_half_the_time() -> None:
    counts = _orientations(["hflip"])
    assert 160 <= counts["h"] <= 240 and counts["id"] + counts["h"] == 400
    counts = _orientations(["flip"])  # both axes independently: four outcomes, ~100 each
    assert all(60 <= counts[k] <= 140 for k in ("id", "h", "v", "hv"))


def test_rot90_gives_the_four_rotations_evenly() -> None:
    counts = _orientations(["rot90"])
    assert all(60 <= counts[k] <= 140 for k in ("id", "r1", "hv", "r3"))  # hv = rot180


def test_free_rotation_keeps_constant_images_constant_and_no_borders() -> None:
    flat = np.full((30, 30), 128, np.uint8)
    ds = PatchDataset(ArraySource([flat]), patch_size=20, augment=["rotate"], length=10)
    for i in range(10):
        np.testing.assert_allclose(as_np(ds[i]["target"]), 128 / 255, atol=1e-5)
    img = ramp()
    rot = PatchDataset(ArraySource([img]), patch_size=16, augment=["rotate:45"], length=30)
    plain = PatchDataset(ArraySource([img]), patch_size=16, length=30)
    lo, hi = img.min() / 255, img.max() / 255
    changed = 0
    for i in range(30):
        out = as_np(rot[i]["target"])
        assert out.shape == (1, 16, 16) and out.min() >= lo - 1e-6 and out.max() <= hi + 1e-6
        changed += not np.array_equal(out, as_np(plain[i]["target"]))
    assert changed >= 25
    whole = PatchDataset(ArraySource([img]), patch_size=None, augment=["rotate"])
    assert whole[0]["target"].shape == (1, 40, 48)


def test_hue_changes_colour_not_value_and_skips_gray() -> None:
    rgb = ramp(rgb=True)
    ds = PatchDataset(ArraySource([rgb]), patch_size=None, color="rgb", augment=["hue:0.3"],
                      fixed=False)
    ref = rgb / np.float32(255)
    out = as_np(ds[0]["target"]).transpose(1, 2, 0)
    assert not np.allclose(out, ref, atol=1e-3)
    np.testing.assert_allclose(out.max(-1), ref.max(-1), atol=1e-5)  # HSV value kept
    np.testing.assert_allclose(shift_hue(np.array([[[1, 0, 0]]], np.float32), 1 / 3),
                               [[[0, 1, 0]]], atol=1e-6)
    gray = ramp()
    g = PatchDataset(ArraySource([gray]), patch_size=None, augment=["hue"])
    np.testing.assert_allclose(as_np(g[0]["target"])[0], gray / 255, atol=1e-7)


def test_brightness_scales_within_range() -> None:
    flat = np.full((16, 16), 100, np.uint8)
    ds = PatchDataset(ArraySource([flat]), patch_size=8, augment=["brightness:0.3"], length=100)
    factors = [float(ds[i]["target"][0, 0, 0]) / (100 / 255) for i in range(100)]
    assert 0.7 - 1e-5 <= min(factors) < 0.8 and 1.2 < max(factors) <= 1.3 + 1e-5
    assert 0.95 < float(np.mean(factors)) < 1.05


def test_scale_shrinks_patches_by_a_factor_in_range() -> None:
    """A horizontal ramp of slope 1/255 per pixel: a patch shrunk by f has slope 1/(255 f)."""
    img = np.tile(np.arange(200, dtype=np.uint8), (120, 1))
    ds = PatchDataset(ArraySource([img]), patch_size=32, augment=["scale:0.5"], length=60)
    slopes = []
    for i in range(60):
        row = as_np(ds[i]["target"])[0, 16, 4:-4]
        assert ds[i]["target"].shape == (1, 32, 32)
        slopes.append(float(np.mean(np.diff(row))) * 255)
    assert 1 - 1e-3 < min(slopes) < 1.2 and 1.7 < max(slopes) < 2 + 1e-3
    small = PatchDataset(ArraySource([img[:40, :40]]), patch_size=32, augment=["scale:0.5"],
                         length=20)  # a window never grows past the image
    assert max(float(np.diff(as_np(small[i]["target"])[0, 16, 4:-4]).mean()) * 255
               for i in range(20)) < 40 / 32 + 1e-2
    plain = PatchDataset(ArraySource([img]), patch_size=32, length=5)
    same = PatchDataset(ArraySource([img]), patch_size=32, augment=["scale:1"], length=5)
    for i in range(5):  # factor 1 draws once more but cuts an unscaled patch
        assert np.allclose(np.diff(as_np(same[i]["target"])[0], axis=1), 1 / 255)
        assert np.allclose(np.diff(as_np(plain[i]["target"])[0], axis=1), 1 / 255)
    whole = PatchDataset(ArraySource([img]), patch_size=None, augment=["scale:0.5"],
                         fixed=False)
    assert 60 <= whole[0]["target"].shape[1] <= 120


@pytest.mark.parametrize("color", ["gray", "rgb"])
def test_pairs_stay_aligned_under_every_augmentation(color: str) -> None:
    img = ramp(rgb=True)
    src = ArraySource([img, img[:20]], noisy=[img.copy(), img[:20].copy()])
    ds = PatchDataset(src, patch_size=24, color=color, length=40,
                      augment=["flip", "rot90", "rotate", "hue", "brightness", "scale"])
    for i in range(40):
        s = ds[i]
        torch.testing.assert_close(s["input"], s["target"], rtol=0, atol=0)


def test_paired_input_is_the_noisy_image() -> None:
    clean = ramp(20, 20)
    noisy = np.clip(clean.astype(int) + 7, 0, 255).astype(np.uint8)
    ds = PatchDataset(ArraySource([clean], noisy=[noisy]), patch_size=None)
    s = ds[0]
    np.testing.assert_allclose(as_np(s["input"])[0], noisy / 255, atol=1e-7)
    np.testing.assert_allclose(as_np(s["target"])[0], clean / 255, atol=1e-7)
    assert "sigma" not in s and "mask" not in s
    extra = PatchDataset(ArraySource([clean], noisy=[noisy]), patch_size=None,
                         degradation="gaussian:sigma=10")
    assert not torch.equal(extra[0]["input"], s["input"])
    torch.testing.assert_close(extra[0]["target"], s["target"])


# --------------------------------------------------------------------------- colour


def test_colour_modes() -> None:
    rgb = ramp(rgb=True) / np.float32(255)
    luma = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    np.testing.assert_allclose(convert_color(rgb, "gray"), luma, atol=1e-6)
    y = convert_color(rgb, "y")
    np.testing.assert_allclose(y, (16 + rgb @ np.array([65.481, 128.553, 24.966])) / 255,
                               atol=1e-5)
    gray = rgb[..., 0]
    assert convert_color(gray, "rgb").shape == (40, 48, 3)
    assert convert_color(gray, "y") is gray and convert_color(rgb, "rgb") is rgb
    ds = PatchDataset(ArraySource([ramp()]), patch_size=8, color="rgb", length=2)
    assert ds.channels == 3 and ds[0]["input"].shape == (3, 8, 8)
    s = ds[0]["target"]
    torch.testing.assert_close(s[0], s[2])
    with pytest.raises(UnknownNameError, match="gray, rgb, y"):
        PatchDataset(ArraySource([ramp()]), color="cmyk")


# --------------------------------------------------------------------------- degradation


def test_gaussian_sigma_is_reported_on_the_unit_scale() -> None:
    ds = PatchDataset(ArraySource([ramp()]), patch_size=16, degradation="gaussian:sigma=25",
                      length=4)
    s = ds[0]
    assert s["sigma"].dtype == torch.float32 and s["sigma"].shape == ()
    assert abs(float(s["sigma"]) - 25 / 255) < 1e-7
    residual = (s["input"] - s["target"]).std().item()
    assert 0.05 < residual < 0.15


def test_mask_and_chain() -> None:
    ds = PatchDataset(ArraySource([ramp()], labels=[7]), patch_size=None,
                      degradation="mask:lower-half+gaussian:sigma=50")
    s = ds[0]
    assert s["mask"].shape == (1, 40, 48) and s["mask"].dtype == torch.float32
    assert s["mask"][0, 20:].eq(1).all() and s["mask"][0, :20].eq(0).all()
    assert abs(float(s["sigma"]) - 50 / 255) < 1e-7
    assert s["label"] == 7
    batch = next(iter(DataLoader(ds, batch_size=1)))
    assert batch["label"].tolist() == [7] and batch["mask"].shape == (1, 1, 40, 48)
    with pytest.raises(SpecError):
        PatchDataset(ArraySource([ramp()]), degradation="gausian:5")


def test_lengths_and_arguments() -> None:
    src = ArraySource([ramp(), ramp(), ramp()])
    assert len(PatchDataset(src)) == 3
    assert len(PatchDataset(src, length=100)) == 100
    whole = PatchDataset(src, patch_size=None, length=7)
    assert len(whole) == 7 and whole[6]["target"].shape == (1, 40, 48)
    torch.testing.assert_close(whole[-1]["target"], whole[6]["target"])
    s = whole[0]
    assert not np.shares_memory(s["input"].numpy(), s["target"].numpy())
    with pytest.raises(RestorekitError, match="patch_size"):
        PatchDataset(src, patch_size=0)
    with pytest.raises(RestorekitError, match="length"):
        PatchDataset(src, length=0)


# --------------------------------------------------------------------------- make_dataset


def test_make_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="known kinds: folder, pairs, mnist, stl10, sidd"):
        make_dataset("imagenet", tmp_path)
    with pytest.raises(RestorekitError, match="dataset root not found") as info:
        make_dataset("folder", tmp_path / "missing")
    assert "\n" not in str(info.value)
    with pytest.raises(RestorekitError, match="unexpected option.*bogus"):
        make_dataset("folder", tmp_path, bogus=1)
    with pytest.raises(UnknownNameError, match="colour mode"):
        make_dataset("folder", tmp_path, color="bgr")
    assert KINDS == ("folder", "pairs", "mnist", "stl10", "sidd")


def test_import_is_cheap() -> None:
    code = "import sys, restorekit.data; print(sorted({'torch', 'scipy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout.strip()
    assert out == "[]"


def test_folder_dataset_end_to_end(tmp_path: Path) -> None:
    for i in range(3):
        Image.fromarray(ramp(rgb=True)[:, ::1 + i % 2]).save(tmp_path / f"{i}.png")
    ds = make_dataset("folder", tmp_path, patch_size=16, degradation="gaussian:sigma=15",
                      color="y", augment=["flip", "hue"], seed=2, length=12)
    batch = next(iter(DataLoader(ds, batch_size=6)))
    assert batch["input"].shape == (6, 1, 16, 16) and batch["sigma"].shape == (6,)


def test_real_train400_loads_and_batches(dataset) -> None:
    ds = make_dataset("folder", dataset("train400"), patch_size=40,
                      degradation="gaussian:sigma=0-55", augment=["flip", "rot90"], length=512)
    assert len(ds.source) == 400 and ds.source.images.used == 400 * 180 * 180
    ds[0]
    batches = list(DataLoader(ds, batch_size=128))  # speed: benchmarks/train_throughput.py
    assert len(batches) == 4 and batches[0]["input"].shape == (128, 1, 40, 40)
