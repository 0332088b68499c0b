"""End to end in a real headless Chromium (Debian's ``chromium``) driven by Playwright.

Skipped when /usr/bin/chromium or the playwright package is missing (``.ci/run`` installs
Chromium; ``playwright install`` is never needed: the system browser is used).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from restorekit.io import read_image, write_image
from restorekit.metrics import psnr

CHROMIUM = Path(os.environ.get("RESTOREKIT_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 30_000

if not CHROMIUM.is_file():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    yield page
    context.close()


def choose(page, server, path: Path, model: str | None = None, task: str | None = None) -> None:
    page.goto(server.url + "/")
    page.wait_for_selector("#model option:nth-child(2)", state="attached")  # models loaded
    page.set_input_files("#file", str(path))
    if task:
        page.select_option("#task", task)
    if model:
        page.select_option("#model", model)


def test_upload_restore_compare_download(start_server, page, noisy_pair, tmp_path: Path) -> None:
    clean_path, noisy_path = noisy_pair
    server = start_server()
    choose(page, server, noisy_path, model="nlm")
    page.click("#restore")
    page.wait_for_selector("#download", state="visible")
    assert page.is_hidden("#error")
    assert page.inner_text("#info-method") == "nlm"
    assert 20 < float(page.inner_text("#noise")) < 30  # the estimated noise level is shown
    # before/after slider and zoom act on the comparison
    page.fill("#slider", "20")
    page.dispatch_event("#slider", "input")
    assert "20%" in page.eval_on_selector("#after", "e => e.style.clipPath")
    page.fill("#zoom", "4")
    page.dispatch_event("#zoom", "input")
    widths = page.evaluate("[document.getElementById('compare').clientWidth, "
                           "document.getElementById('compare-inner').clientWidth]")
    assert widths[1] >= 3.9 * widths[0]
    assert page.evaluate("document.getElementById('after').naturalWidth") == 64
    with page.expect_download() as info:
        page.click("#download")
    download = info.value
    assert download.suggested_filename == "noisy_restored.png"
    target = tmp_path / "downloaded.png"
    download.save_as(target)
    out, meta = read_image(target)
    clean, _ = read_image(clean_path)
    noisy, _ = read_image(noisy_path)
    assert meta.format == "PNG" and meta.bit_depth == 8 and out.shape == clean.shape
    assert psnr(out, clean) > psnr(noisy, clean) + 4


def test_oversize_upload_shows_the_error(start_server, page, tmp_path: Path) -> None:
    server = start_server(max_upload_bytes=20_000)
    big = write_image(tmp_path / "big.png", np.random.default_rng(0).random((400, 400)))
    choose(page, server, big)
    page.click("#restore")
    page.wait_for_selector("#error", state="visible")
    assert page.inner_text("#error") == ("the upload is too large: the limit is 20,000 bytes "
                                         "per file")
    assert page.is_hidden("#result")


def test_corrupt_file_shows_the_error(start_server, page, tmp_path: Path) -> None:
    server = start_server()
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a PNG")
    choose(page, server, broken)
    page.click("#restore")
    page.wait_for_selector("#error", state="visible")
    assert "broken.png" in page.inner_text("#error")
    assert "not a PNG, JPEG, TIFF, BMP or WebP image" in page.inner_text("#error")


def test_inpaint_with_a_drawn_mask(start_server, page, helpers, tmp_path: Path) -> None:
    clean = helpers.clean_image(64)
    holed = clean.copy()
    holed[24:40, 24:40] = 1.0  # a white square is missing
    src = write_image(tmp_path / "holed.png", holed)
    server = start_server()
    choose(page, server, src, task="inpaint")
    page.wait_for_selector("#mask-canvas", state="visible")
    box = page.locator("#mask-canvas").bounding_box()
    scale = box["width"] / 64
    page.fill("#brush", "64")
    page.dispatch_event("#brush", "input")
    # paint three horizontal strokes covering the square (image pixels 22..42)
    for y in (26, 32, 38):
        page.mouse.move(box["x"] + 22 * scale, box["y"] + y * scale)
        page.mouse.down()
        page.mouse.move(box["x"] + 42 * scale, box["y"] + y * scale, steps=5)
        page.mouse.up()
    page.click("#restore")
    page.wait_for_selector("#download", state="visible")
    assert page.inner_text("#info-method") == "biharmonic"
    with page.expect_download() as info:
        page.click("#download")
    target = tmp_path / "filled.png"
    info.value.save_as(target)
    out, _ = read_image(target)
    hole = np.s_[24:40, 24:40]
    assert np.abs(out[hole] - clean[hole]).mean() < np.abs(holed[hole] - clean[hole]).mean() / 3
    assert np.abs(out[:16] - holed[:16]).max() < 1 / 255 + 1e-6  # unpainted rows untouched
    assert psnr(out, clean) > psnr(holed, clean) + 3


def test_dropping_a_file_selects_it(start_server, page, noisy_pair) -> None:
    import base64

    server = start_server()
    page.goto(server.url + "/")
    data = base64.b64encode(noisy_pair[1].read_bytes()).decode()
    page.evaluate("""(data) => {
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], "dropped.png", {type: "image/png"}));
        const drop = document.getElementById("drop");
        drop.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true,
                                                  cancelable: true}));
    }""", data)
    assert page.inner_text("#drop-text").startswith("dropped.png")
    assert page.is_enabled("#restore")
    page.click("#restore")
    page.wait_for_selector("#download", state="visible")
    assert page.get_attribute("#download", "download") == "dropped_restored.png"
