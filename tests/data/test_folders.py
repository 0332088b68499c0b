"""Image folders and noisy/clean pairing on generated folders and the real PolyU/CC15 sets."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restorekit.data import make_dataset
from restorekit.data.folders import (
    ImageCache,
    ImageFolderSource,
    PairedFolderSource,
    find_pairs,
    list_images,
)
from restorekit.errors import RestorekitError


def save(path: Path, value: int | np.ndarray, shape: tuple[int, ...] = (12, 10)) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full(shape, value, np.uint8) if np.isscalar(value) else np.asarray(value, np.uint8)
    Image.fromarray(arr).save(path)
    return arr


def test_list_images_sorted_recursive_and_filtered(tmp_path: Path) -> None:
    for name in ("b.png", "a.PNG", "c.jpg", "sub/d.bmp", ".hidden.png"):
        save(tmp_path / name, 1)
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in list_images(tmp_path)] == ["a.PNG", "b.png", "c.jpg"]
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path, recursive=True)] \
        == ["a.PNG", "b.png", "c.jpg", "sub/d.bmp"]
    with pytest.raises(RestorekitError, match="image folder not found"):
        list_images(tmp_path / "missing")


def test_folder_source_caches_compact_pixels(tmp_path: Path) -> None:
    ref = save(tmp_path / "x.png", np.arange(120).reshape(12, 10))
    save(tmp_path / "y.png", 7, (5, 6, 3))
    src = ImageFolderSource(tmp_path)
    assert len(src) == 2 and src.images.used == 120 + 90
    item = src.get(0)
    assert item["clean"].dtype == np.uint8 and item["name"] == "x.png"
    np.testing.assert_array_equal(item["clean"], ref)
    assert src.get(0)["clean"] is item["clean"]  # cached, not re-read
    assert src[1]["clean"].dtype == np.float32 and src[1]["clean"].shape == (5, 6, 3)
    uncached = ImageCache(src.paths, cache=False)
    assert uncached.used == 0 and uncached.get(0) is not uncached.get(0)
    partial = ImageCache(src.paths, cache=150)  # budget for the first image only
    assert partial.used == 120


def test_several_folders_pool_their_images(tmp_path: Path) -> None:
    save(tmp_path / "a" / "x.png", 1)
    save(tmp_path / "b" / "x.png", 2)
    save(tmp_path / "b" / "y.png", 3)
    src = ImageFolderSource([tmp_path / "a", tmp_path / "b"])
    assert src.names == ["a/x.png", "b/x.png", "b/y.png"]
    assert [int(src.get(i)["clean"][0, 0]) for i in range(3)] == [1, 2, 3]
    data = make_dataset("folder", [tmp_path / "a", tmp_path / "b"], patch_size=4, length=30)
    picked = {float(data[i]["target"][0, 0, 0]) * 255 for i in range(30)}
    assert {round(v) for v in picked} == {1, 2, 3}  # every image of both folders is drawn
    (tmp_path / "empty").mkdir()
    with pytest.raises(RestorekitError, match="no images in .*empty"):
        ImageFolderSource([tmp_path / "a", tmp_path / "empty"])
    with pytest.raises(RestorekitError, match="dataset root not found: .*missing"):
        make_dataset("folder", [tmp_path / "a", tmp_path / "missing"])
    with pytest.raises(RestorekitError, match="'pairs' takes one root folder, got 2"):
        make_dataset("pairs", [tmp_path / "a", tmp_path / "b"])


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RestorekitError, match="no images in"):
        ImageFolderSource(tmp_path)


def test_pairs_in_two_folders_by_name(tmp_path: Path) -> None:
    for i in range(3):
        save(tmp_path / "n" / f"img{i}.png", 10 + i)
        save(tmp_path / "c" / f"img{i}.jpg" if i == 2 else tmp_path / "c" / f"img{i}.png", i)
    pairs = find_pairs(tmp_path / "n", tmp_path / "c")
    assert [(a.name, b.name) for a, b in pairs] == [("img0.png", "img0.png"),
                                                   ("img1.png", "img1.png"),
                                                   ("img2.png", "img2.jpg")]


def test_pairs_in_noisy_clean_subfolders(tmp_path: Path) -> None:
    for i in range(2):
        save(tmp_path / "noisy" / f"{i}.png", 100)
        save(tmp_path / "GT" / f"{i}.png", 50)
    src = PairedFolderSource(tmp_path)
    assert len(src) == 2
    item = src.get(1)
    assert item["noisy"][0, 0] == 100 and item["clean"][0, 0] == 50


@pytest.mark.parametrize("noisy, clean", [("{}_real.png", "{}_mean.png"),
                                          ("{}_real.JPG", "{}_mean.JPG"),
                                          ("NOISY_{}.png", "GT_{}.png"),
                                          ("{}_noisy.png", "{}_clean.png")])
def test_pairs_by_marked_names(tmp_path: Path, noisy: str, clean: str) -> None:
    for i, key in enumerate(["scene_b", "scene_a"]):
        save(tmp_path / noisy.format(key), 200 + i)
        save(tmp_path / clean.format(key), i)
    pairs = find_pairs(tmp_path)
    assert [(a.name, b.name) for a, b in pairs] == [
        (noisy.format("scene_a"), clean.format("scene_a")),
        (noisy.format("scene_b"), clean.format("scene_b"))]


def test_unmatched_images_warn_or_raise(tmp_path: Path) -> None:
    save(tmp_path / "a_real.png", 1)
    save(tmp_path / "a_mean.png", 2)
    save(tmp_path / "b_real.png", 3)
    save(tmp_path / "c_ours.png", 4)
    with pytest.warns(UserWarning, match=r"2 image\(s\) without a noisy/clean partner.*"
                                         r"b_real.png, c_ours.png"):
        pairs = find_pairs(tmp_path)
    assert len(pairs) == 1
    with pytest.raises(RestorekitError, match="b_real.png"):
        find_pairs(tmp_path, strict=True)
    with pytest.raises(RestorekitError, match="without a noisy/clean partner"):
        make_dataset("pairs", tmp_path, strict=True)


def test_no_pairs_and_size_mismatch(tmp_path: Path) -> None:
    save(tmp_path / "x.png", 1)
    with pytest.raises(RestorekitError, match="no noisy/clean pairs"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        find_pairs(tmp_path)
    save(tmp_path / "y_real.png", 1, (8, 8))
    save(tmp_path / "y_mean.png", 1, (8, 9))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        src = PairedFolderSource(tmp_path)
    with pytest.raises(RestorekitError, match="is \\(8, 8\\) but clean"):
        src.get(0)


def test_split_subfolder_is_used_when_present(tmp_path: Path) -> None:
    save(tmp_path / "train" / "a.png", 1)
    save(tmp_path / "val" / "b.png", 2)
    save(tmp_path / "val" / "c.png", 2)
    assert len(make_dataset("folder", tmp_path, split="val", patch_size=None)) == 2
    assert len(make_dataset("folder", tmp_path / "train", split="val", patch_size=None)) == 1


@pytest.mark.parametrize("name, count", [("polyu_real_cropped", 100), ("cc15_nam", 15)])
def test_real_pairs(dataset, name: str, count: int) -> None:
    root = dataset(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every image has its partner
        pairs = find_pairs(root)
    assert len(pairs) == count
    for noisy, clean in pairs:
        assert noisy.name.lower().replace("_real.", "_mean.") == clean.name.lower()
    ds = make_dataset("pairs", root, color="rgb", patch_size=48, length=4, preload=False,
                      cache=False)
    s = ds[0]
    assert s["input"].shape == (3, 48, 48)
    diff = (s["input"] - s["target"]).abs().mean().item()
    assert 0 < diff < 0.1  # real noise: different, but the same picture
