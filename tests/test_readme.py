"""The README's Python example runs as written, and again in the same folder."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_python() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "README.md has no python example"
    return blocks[0]


def test_readme_python_example_runs_twice(tmp_path: Path, textured_image: np.ndarray,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    pixels = (textured_image * 255).round().astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    Image.fromarray(pixels).save(tmp_path / "shot.jpg", quality=15)
    monkeypatch.chdir(tmp_path)
    code = readme_python()
    for _ in range(2):
        scope: dict = {}
        exec(compile(code, str(README), "exec"), scope)  # noqa: S102 - our own README
        assert scope["clean"].shape == scope["image"].shape
        assert scope["meta"].jpeg_quality.quality == 15
        assert scope["deblocked"].shape == scope["blocky"].shape
    assert (tmp_path / "clean.png").is_file()
