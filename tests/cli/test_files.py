"""Input/output path planning: earlier outputs are not inputs, side files never replace inputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from restorekit.cli.files import check_side_output, plan_jobs
from restorekit.errors import RestorekitError


def _touch(*paths: Path) -> None:
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")


def test_earlier_outputs_in_a_folder_are_not_inputs(tmp_path: Path) -> None:
    _touch(tmp_path / "a.png", tmp_path / "b.png", tmp_path / "a_restored.png",
           tmp_path / "a_restored_restored.png", tmp_path / "c_restored.png")
    jobs = plan_jobs([str(tmp_path)], None, suffix="restored")
    assert {(j.source.name, j.target.name if j.target else None, j.error) for j in jobs} == {
        ("a.png", "a_restored.png", None), ("b.png", "b_restored.png", None),
        # no c.png: c_restored.png is nobody's output, so it is an input like any other
        ("c_restored.png", "c_restored_restored.png", None)}


def test_an_explicitly_named_earlier_output_is_still_an_input(tmp_path: Path) -> None:
    a, old = tmp_path / "a.png", tmp_path / "a_restored.png"
    _touch(a, old)
    jobs = plan_jobs([str(a), str(old)], None, suffix="restored")
    assert jobs[0].target is None and "overwrite an input" in jobs[0].error
    assert jobs[1].target == tmp_path / "a_restored_restored.png"


def test_output_folder_equal_to_the_input_folder_is_still_refused(tmp_path: Path) -> None:
    _touch(tmp_path / "a.png", tmp_path / "b.png")
    jobs = plan_jobs([str(tmp_path)], str(tmp_path), suffix="restored")
    assert len(jobs) == 2 and all("overwrite an input" in j.error for j in jobs)


def test_outputs_of_a_recursive_run_into_a_subfolder_are_not_inputs(tmp_path: Path) -> None:
    _touch(tmp_path / "a.png", tmp_path / "out" / "a.png")
    jobs = plan_jobs([str(tmp_path)], str(tmp_path / "out"), suffix="restored",
                     recursive=True)
    assert [(j.source.name, j.target) for j in jobs] == [("a.png", tmp_path / "out" / "a.png")]


def test_side_output_rules(tmp_path: Path) -> None:
    src, out, side = tmp_path / "in.png", tmp_path / "out.png", tmp_path / "p.json"
    _touch(src)
    kw = {"inputs": [src], "outputs": [out]}
    assert check_side_output(side, "--params", **kw) == side
    for path, message in ((src, "refusing to overwrite an input"),
                          (out, "also an output"),
                          (tmp_path, "is a folder"),
                          (tmp_path / "missing" / "p.json", "does not exist")):
        with pytest.raises(RestorekitError, match=message):
            check_side_output(path, "--params", **kw)
    with pytest.raises(RestorekitError, match="refusing to overwrite an input"):
        check_side_output(src, "--params", overwrite=True, **kw)
    _touch(side)
    with pytest.raises(RestorekitError, match="already exists"):
        check_side_output(side, "--params", **kw)
    assert check_side_output(side, "--params", overwrite=True, **kw) == side


def test_side_output_suffix_and_read_only_folder(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    kw = {"inputs": [], "suffix": ".png"}
    assert check_side_output(tmp_path / "plot.PNG", "--plot", **kw) == tmp_path / "plot.PNG"
    with pytest.raises(RestorekitError, match="written as PNG; give a name ending in .png"):
        check_side_output(tmp_path / "plot.txt", "--plot", **kw)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: (Path(p) != tmp_path.resolve()
                                                       and real(p, mode)))
    with pytest.raises(RestorekitError, match="is not writable"):
        check_side_output(tmp_path / "plot.png", "--plot", **kw)


def test_a_folder_without_images_says_so(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(RestorekitError, match=r"no image files in .*by suffix: .*\.png.*-r "):
        plan_jobs([str(tmp_path)], None, suffix="restored")
