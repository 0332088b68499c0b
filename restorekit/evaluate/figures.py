"""Figures as images: labelled comparison grids (input | method A | ... | original).

Grids are plain numpy RGB arrays drawn with Pillow, so they need no plotting backend and can be
written with :func:`restorekit.io.write_image`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _to_rgb(image: np.ndarray) -> np.ndarray:
    img = np.clip(np.asarray(image, dtype=np.float32), 0, 1)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    return img[..., :3]


def _text_strip(labels: Sequence[str], cell_w: int, gap: int, height: int) -> np.ndarray:
    from PIL import Image, ImageDraw

    width = len(labels) * cell_w + (len(labels) - 1) * gap
    strip = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(strip)
    for i, label in enumerate(labels):
        x = i * (cell_w + gap)
        text = label if draw.textlength(label) <= cell_w else label[: max(1, cell_w // 7)] + "…"
        draw.text((x + 2, 2), text, fill="black")
    return np.asarray(strip, dtype=np.float32) / 255.0


def comparison_grid(rows: Sequence[Sequence[np.ndarray]], *, col_labels: Sequence[str] = (),
                    row_captions: Sequence[Sequence[str]] = (), gap: int = 4) -> np.ndarray:
    """Tile images into a grid (one row per image, one column per method) with labels.

    ``col_labels`` go above the first row; ``row_captions[r][c]`` (e.g. "31.2 dB") under each
    cell. All images of the grid must share one height and width.
    """
    cells = [[_to_rgb(img) for img in row] for row in rows]
    h, w = cells[0][0].shape[:2]
    ncol = max(len(r) for r in cells)
    label_h = 14
    blocks = []
    if col_labels:
        blocks.append(_text_strip(list(col_labels) + [""] * (ncol - len(col_labels)), w, gap,
                                  label_h))
    for r, row in enumerate(cells):
        line = np.ones((h, ncol * w + (ncol - 1) * gap, 3), np.float32)
        for c, img in enumerate(row):
            if img.shape[:2] != (h, w):
                raise ValueError(f"grid cell ({r}, {c}) is {img.shape[:2]}, expected {(h, w)}")
            line[:, c * (w + gap): c * (w + gap) + w] = img
        blocks.append(line)
        if r < len(row_captions) and row_captions[r]:
            blocks.append(_text_strip(list(row_captions[r]) + [""] * (ncol - len(row_captions[r])),
                                      w, gap, label_h))
        blocks.append(np.ones((gap, line.shape[1], 3), np.float32))
    return np.concatenate(blocks[:-1], axis=0)
