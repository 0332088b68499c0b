"""Masks (halves, boxes, random boxes, mask files) and noise confined to a box."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from restorekit.degrade import BoxNoise, Mask, parse_spec
from restorekit.errors import SpecError


def _mnist_like() -> np.ndarray:
    return np.random.default_rng(0).uniform(0.1, 1.0, (28, 28)).astype(np.float32)


def test_lower_half_of_mnist_is_rows_14_to_27() -> None:
    x = _mnist_like()
    y, params = parse_spec("mask:lower-half")(x, rng=0)
    assert np.all(y[14:] == 0)
    np.testing.assert_array_equal(y[:14], x[:14])
    expected = np.zeros((28, 28), bool)
    expected[14:] = True
    np.testing.assert_array_equal(params["mask"], expected)
    assert params["region"] == "lower-half" and params["fill"] == 0.0


@pytest.mark.parametrize(
    ("region", "rows", "cols"),
    [
        ("lower-half", slice(2, 5), slice(None)),
        ("upper-half", slice(0, 3), slice(None)),
        ("left-half", slice(None), slice(0, 4)),
        ("right-half", slice(None), slice(3, 7)),
    ],
)
def test_halves_on_odd_sizes(region: str, rows: slice, cols: slice) -> None:
    x = np.full((5, 7), 0.5, np.float32)
    _, params = Mask(region)(x, rng=0)
    expected = np.zeros((5, 7), bool)
    expected[rows, cols] = True
    np.testing.assert_array_equal(params["mask"], expected)


def test_box_in_pixels_and_fractions(rgb_image: np.ndarray) -> None:
    y, params = parse_spec("mask:box=8,4,16,10")(rgb_image, rng=0)  # x, y, w, h
    assert np.all(y[4:14, 8:24] == 0)
    assert params["mask"].sum() == 16 * 10 and params["boxes"] == [(8, 4, 16, 10)]
    untouched = ~params["mask"]
    np.testing.assert_array_equal(y[untouched], rgb_image[untouched])
    _, params = parse_spec("mask:box=0.25,0.5,0.5,0.25")(rgb_image, rng=0)  # 64x48 image
    assert params["boxes"] == [(12, 32, 24, 16)]


def test_box_is_clipped_to_the_image() -> None:
    _, params = Mask(box=(40, 50, 100, 100))(np.ones((64, 48), np.float32), rng=0)
    assert params["mask"].sum() == (48 - 40) * (64 - 50)


def test_fill_value(gray_image: np.ndarray) -> None:
    y, _ = parse_spec("mask:upper-half,fill=1")(gray_image, rng=0)
    assert np.all(y[:32] == 1)


def test_random_boxes_are_seeded_and_recorded(gray_image: np.ndarray) -> None:
    d = parse_spec("mask:random-boxes=2-6,size=10")
    y, params = d(gray_image, rng=4)
    y2, params2 = d(gray_image, rng=4)
    np.testing.assert_array_equal(y, y2)
    assert 2 <= params["count"] <= 6 and len(params["boxes"]) == params["count"]
    for bx, by, bw, bh in params["boxes"]:
        assert 1 <= bw <= 10 and 1 <= bh <= 10
        assert np.all(y[by : by + bh, bx : bx + bw] == 0)
    np.testing.assert_array_equal(y == 0, params["mask"])  # gray_image has no zeros
    counts = {d(gray_image, rng=s)[1]["count"] for s in range(30)}
    assert counts == {2, 3, 4, 5, 6}


def test_random_boxes_per_image_on_batches() -> None:
    x = torch.full((4, 3, 32, 32), 0.5)
    y, params = parse_spec("mask:random-boxes=3")(x, rng=1)
    m = params["mask"]
    assert m.shape == (4, 32, 32) and m.dtype == bool
    assert not all(np.array_equal(m[0], m[i]) for i in range(1, 4))
    np.testing.assert_array_equal((y == 0).all(dim=1).numpy(), m)


def test_deterministic_region_on_batches() -> None:
    x = torch.rand((2, 1, 28, 28), generator=torch.Generator().manual_seed(0)) + 0.01
    y, params = Mask("lower-half")(x, rng=0)
    assert params["mask"].shape == (2, 28, 28)
    assert bool((y[:, :, 14:] == 0).all()) and torch.equal(y[:, :, :14], x[:, :, :14])


def test_mask_file(tmp_path: Path, gray_image: np.ndarray) -> None:
    m = np.zeros((64, 48), np.uint8)
    m[10:20, 5:15] = 255
    path = tmp_path / "holes.png"
    Image.fromarray(m).save(path)
    d = parse_spec(f"mask:file={path}")
    assert parse_spec(d.spec) == d
    y, params = d(gray_image, rng=0)
    np.testing.assert_array_equal(params["mask"], m > 0)
    assert np.all(y[10:20, 5:15] == 0) and params["file"] == str(path)


def test_mask_file_ignores_alpha(tmp_path: Path) -> None:
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[2, 3, 0] = 1
    path = tmp_path / "m.png"
    Image.fromarray(rgba, "RGBA").save(path)
    _, params = parse_spec(f"mask:file={path}")(np.ones((8, 8), np.float32), rng=0)
    assert params["mask"].sum() == 1 and params["mask"][2, 3]


def test_mask_file_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    with pytest.raises(SpecError, match="nope.png"):
        parse_spec(f"mask:file={missing}")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    with pytest.raises(SpecError, match="junk.png"):
        parse_spec(f"mask:file={junk}")
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(small)
    with pytest.raises(SpecError, match=r"small\.png.*4x4.*48x64"):
        parse_spec(f"mask:file={small}")(np.ones((64, 48), np.float32), rng=0)


def test_box_noise_changes_only_the_box(gray_image: np.ndarray) -> None:
    y, params = parse_spec("box-noise:box=10,20,12,8,sigma=50")(gray_image, rng=0)
    inside = np.zeros(gray_image.shape, bool)
    inside[20:28, 10:22] = True
    np.testing.assert_array_equal(params["mask"], inside)
    np.testing.assert_array_equal(y[~inside], gray_image[~inside])
    assert np.mean(y[inside] != gray_image[inside]) > 0.9
    assert y.min() >= 0 and y.max() <= 1  # box-noise clips by default


def test_box_noise_salt_pepper_and_random_position(rgb_image: np.ndarray) -> None:
    d = parse_spec("box-noise:box=8,8,10,10,noise=salt-pepper,amount=1,random=true")
    y, params = d(rgb_image, rng=3)
    bx, by, bw, bh = params["box"]
    assert (bw, bh) == (10, 10)
    inside = params["mask"]
    assert inside.sum() == 100 and inside[by : by + bh, bx : bx + bw].all()
    np.testing.assert_array_equal(y[~inside], rgb_image[~inside])
    assert np.all((y[inside] == 0) | (y[inside] == 1))
    positions = {d(rgb_image, rng=s)[1]["box"][:2] for s in range(10)}
    assert len(positions) > 1


def test_box_noise_torch_batch() -> None:
    x = torch.full((3, 1, 30, 30), 0.5)
    y, params = BoxNoise(box=(5, 5, 10, 10), random=True)(x, rng=0)
    assert params["mask"].shape == (3, 30, 30) and len(params["box"]) == 3
    changed = (y != x)[:, 0].numpy()
    assert not np.any(changed & ~params["mask"])


def test_mask_overrides_change_the_region(gray_image: np.ndarray) -> None:
    d = Mask("lower-half")
    _, params = d(gray_image, rng=0, box=(0, 0, 4, 4))
    assert params["region"] == "box" and params["mask"].sum() == 16
    assert d.spec == "mask:lower-half"  # the original is unchanged


@pytest.mark.parametrize(
    ("spec", "token"),
    [
        ("mask:lower-half,box=1,2,3,4", "box"),
        ("mask:box=1,2,3", "1,2,3"),
        ("mask:box=0,0,1.5,1", "0,0,1.5,1"),
        ("mask:box=8,8,16,16,file=x.png", "box"),
        ("mask:diagonal", "diagonal"),
        ("mask:random-boxes=0", "0"),
        ("mask:random-boxes=2,size=0", "0"),
        ("mask:lower-half,fill=2", "2"),
        ("mask:file", "file"),
        ("box-noise:noise=salt-pepper,sigma=5", "sigma"),
        ("box-noise:noise=speckle", "speckle"),
    ],
)
def test_mask_spec_errors(spec: str, token: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(spec)
    assert token in str(info.value) and "\n" not in str(info.value)
