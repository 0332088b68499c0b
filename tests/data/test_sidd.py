"""SIDD folder layout, scene names, validation .mat blocks (generated tiny fixtures)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from restorekit.data import make_dataset
from restorekit.data.sidd import (
    SiddSource,
    find_sidd_pairs,
    load_sidd_validation,
    parse_scene_name,
    read_mat_variable,
)
from restorekit.errors import MissingDependencyError, RestorekitError

SCENES = ("0001_001_S6_00100_00060_3200_L", "0002_001_GP_00800_00350_5500_N",
          "0003_002_IP_01600_00100_4400_H")


def make_sidd(root: Path, size: tuple[int, int] = (20, 24)) -> dict[str, tuple[np.ndarray, ...]]:
    """SIDD_Small_sRGB_Only/Data/<scene>/{GT,NOISY}_SRGB_010.PNG with random tiny images."""
    rng = np.random.default_rng(0)
    out = {}
    for scene in SCENES:
        folder = root / "SIDD_Small_sRGB_Only" / "Data" / scene
        folder.mkdir(parents=True)
        gt = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        noisy = np.clip(gt.astype(int) + rng.integers(-20, 21, gt.shape), 0, 255).astype(np.uint8)
        Image.fromarray(gt).save(folder / "GT_SRGB_010.PNG")
        Image.fromarray(noisy).save(folder / "NOISY_SRGB_010.PNG")
        out[scene] = (noisy, gt)
    return out


def make_validation(root: Path, n: int = 2, blocks: int = 3, size: int = 8) -> tuple[np.ndarray,
                                                                                      np.ndarray]:
    rng = np.random.default_rng(1)
    gt = rng.integers(0, 256, (n, blocks, size, size, 3), dtype=np.uint8)
    noisy = (gt // 2).astype(np.uint8)
    root.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(root / "ValidationNoisyBlocksSrgb.mat", {"ValidationNoisyBlocksSrgb": noisy})
    scipy.io.savemat(root / "ValidationGtBlocksSrgb.mat", {"ValidationGtBlocksSrgb": gt})
    return noisy, gt


def test_parse_scene_name() -> None:
    info = parse_scene_name("0001_001_S6_00100_00060_3200_L")
    assert (info.instance, info.scene, info.phone, info.iso, info.shutter, info.temperature,
            info.brightness) == (1, 1, "S6", 100, 60, 3200, "L")
    assert info.camera == "Samsung Galaxy S6 Edge"
    assert parse_scene_name(SCENES[1]).camera == "Google Pixel"
    with pytest.raises(RestorekitError, match="not a SIDD scene"):
        parse_scene_name("holiday_photos")


def test_find_pairs_and_filters(tmp_path: Path) -> None:
    make_sidd(tmp_path)
    for root in (tmp_path, tmp_path / "SIDD_Small_sRGB_Only",
                 tmp_path / "SIDD_Small_sRGB_Only" / "Data"):
        pairs = find_sidd_pairs(root)
        assert [p.info.name for p in pairs] == list(SCENES)
        assert all(p.noisy.name == "NOISY_SRGB_010.PNG" and p.gt.name == "GT_SRGB_010.PNG"
                   for p in pairs)
    assert [p.info.phone for p in find_sidd_pairs(tmp_path, phones=("gp", "IP"))] == ["GP", "IP"]
    assert [p.info.iso for p in find_sidd_pairs(tmp_path, iso_range=(0, 800))] == [100, 800]
    with pytest.raises(RestorekitError, match="matching the filters"):
        find_sidd_pairs(tmp_path, phones=("N6",))


def test_unpaired_file_and_missing_layout(tmp_path: Path) -> None:
    make_sidd(tmp_path)
    scene = tmp_path / "SIDD_Small_sRGB_Only" / "Data" / SCENES[0]
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(scene / "NOISY_SRGB_011.PNG")
    with pytest.raises(RestorekitError, match="no noisy/GT partner for SRGB_011"):
        find_sidd_pairs(tmp_path)
    (tmp_path / "other").mkdir()
    with pytest.raises(RestorekitError, match="no SIDD scene folders"):
        find_sidd_pairs(tmp_path / "other")


def test_source_train_pairs_read_correctly(tmp_path: Path) -> None:
    ref = make_sidd(tmp_path)
    src = SiddSource(tmp_path, "train")
    assert len(src) == 3 and src.paired
    item = src.get(1)
    np.testing.assert_array_equal(item["noisy"], ref[SCENES[1]][0])
    np.testing.assert_array_equal(item["clean"], ref[SCENES[1]][1])
    assert item["name"].startswith(SCENES[1])


def test_validation_blocks(tmp_path: Path) -> None:
    noisy, gt = make_validation(tmp_path / "val")
    n2, g2 = load_sidd_validation(tmp_path)
    np.testing.assert_array_equal(n2, noisy)
    np.testing.assert_array_equal(g2, gt)
    src = SiddSource(tmp_path, "val")
    assert len(src) == 6
    item = src.get(4)  # image 1, block 1
    np.testing.assert_array_equal(item["clean"], gt[1, 1])
    np.testing.assert_array_equal(item["noisy"], noisy[1, 1])
    assert item["name"] == "val_01_01"


def test_validation_shape_and_missing_errors(tmp_path: Path) -> None:
    with pytest.raises(RestorekitError, match="ValidationNoisyBlocksSrgb.mat not found"):
        load_sidd_validation(tmp_path)
    scipy.io.savemat(tmp_path / "ValidationNoisyBlocksSrgb.mat",
                     {"ValidationNoisyBlocksSrgb": np.zeros((2, 8, 8), np.uint8)})
    scipy.io.savemat(tmp_path / "ValidationGtBlocksSrgb.mat",
                     {"ValidationGtBlocksSrgb": np.zeros((2, 8, 8), np.uint8)})
    with pytest.raises(RestorekitError, match="expected images x blocks"):
        load_sidd_validation(tmp_path)
    with pytest.raises(RestorekitError, match="no variable 'Other'"):
        read_mat_variable(tmp_path / "ValidationGtBlocksSrgb.mat", "Other")


@pytest.mark.skipif(importlib.util.find_spec("h5py") is not None, reason="h5py is installed")
def test_matlab_v73_without_h5py_says_so(tmp_path: Path) -> None:
    header = (b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2018 "
              b"HDF5 schema 1.00 .").ljust(512, b" ")
    path = tmp_path / "ValidationGtBlocksSrgb.mat"
    path.write_bytes(header + b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(MissingDependencyError, match="v7.3.*h5py") as info:
        read_mat_variable(path, "ValidationGtBlocksSrgb")
    assert "\n" not in str(info.value)


def test_make_dataset_sidd_train_and_val(tmp_path: Path) -> None:
    make_sidd(tmp_path)
    make_validation(tmp_path / "SIDD_Small_sRGB_Only")
    train = make_dataset("sidd", tmp_path, patch_size=16, color="rgb", length=5,
                         augment=["flip", "rot90"])
    s = train[0]
    assert s["input"].shape == (3, 16, 16) and s["target"].shape == (3, 16, 16)
    assert not torch.equal(s["input"], s["target"])  # real noise, no synthetic degradation
    val = make_dataset("sidd", tmp_path, split="val", patch_size=None, color="rgb")
    assert len(val) == 6 and val[0]["target"].shape == (3, 8, 8)
