"""The JSON API against a real uvicorn server on a free loopback port, with an HTTP client."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from restorekit.io import DEFAULT_JPEG_QUALITY, read_image, write_image
from restorekit.metrics import psnr


def post_image(url: str, path: Path, *, endpoint: str = "/api/restore", name: str | None = None,
               **fields: str) -> httpx.Response:
    with open(path, "rb") as fh:
        return httpx.post(url + endpoint, files={"file": (name or path.name, fh)},
                          data=fields, timeout=60)


def decode(content: bytes, tmp_path: Path, suffix: str) -> tuple[np.ndarray, object]:
    p = tmp_path / f"answer{suffix}"
    p.write_bytes(content)
    return read_image(p)


def test_openapi_schema_describes_restore_and_models(start_server) -> None:
    server = start_server()
    schema = httpx.get(server.url + "/openapi.json").json()
    post = schema["paths"]["/api/restore"]["post"]
    body = post["requestBody"]["content"]["multipart/form-data"]["schema"]
    ref = body["$ref"].rsplit("/", 1)[-1]
    form = schema["components"]["schemas"][ref]
    assert {"file", "task", "model", "sigma", "scale", "mask"} <= set(form["properties"])
    assert form["required"] == ["file"]
    assert "image/png" in post["responses"]["200"]["content"]
    assert "get" in schema["paths"]["/api/models"]
    assert "get" in schema["paths"]["/api/jobs/{job_id}"]


def test_models_and_config(start_server) -> None:
    server = start_server(max_upload_bytes=12345, allowed_formats=("png", "jpeg"))
    models = httpx.get(server.url + "/api/models", timeout=60).json()
    assert models["tasks"] == ["denoise", "jpeg", "sr", "inpaint"]
    assert models["models"]["denoise"][0] == "auto"
    assert {"nlm", "gaussian-filter", "median"} <= set(models["models"]["denoise"])
    assert all(m[0] == "auto" for m in models["models"].values())
    assert "bicubic" in models["models"]["sr"] and "biharmonic" in models["models"]["inpaint"]
    config = httpx.get(server.url + "/api/config").json()
    assert config["max_upload_bytes"] == 12345
    assert config["allowed_formats"] == ["PNG", "JPEG"]


def test_restore_denoises_and_answers_with_the_image(start_server, noisy_pair,
                                                     tmp_path: Path) -> None:
    clean_path, noisy_path = noisy_pair
    server = start_server()
    r = post_image(server.url, noisy_path, model="nlm")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert r.headers["content-disposition"] == 'attachment; filename="noisy_restored.png"'
    assert r.headers["x-restorekit-method"] == "nlm"
    assert 20 < float(r.headers["x-restorekit-noise-sigma"]) < 30  # true sigma is 25
    assert abs(float(r.headers["x-restorekit-sigma"])  # nlm used the estimate
               - float(r.headers["x-restorekit-noise-sigma"])) < 0.01
    out, meta = decode(r.content, tmp_path, ".png")
    clean, _ = read_image(clean_path)
    noisy, _ = read_image(noisy_path)
    assert out.shape == clean.shape and meta.bit_depth == 8
    assert psnr(out, clean) > psnr(noisy, clean) + 4


def test_given_sigma_is_used(start_server, noisy_pair) -> None:
    server = start_server()
    r = post_image(server.url, noisy_pair[1], model="nlm", sigma="10")
    assert r.status_code == 200 and float(r.headers["x-restorekit-sigma"]) == 10.0


@pytest.mark.parametrize("suffix,depth", [(".png", 16), (".tif", 16), (".jpg", 8), (".bmp", 8),
                                         (".webp", 8)])
def test_result_keeps_the_input_format_and_bit_depth(start_server, helpers, tmp_path: Path,
                                                     suffix: str, depth: int) -> None:
    rgb = np.stack([helpers.noisy_of(helpers.clean_image(48), seed=s) for s in range(3)], axis=-1)
    src = write_image(tmp_path / f"in{suffix}", rgb, **({"bit_depth": 16} if depth == 16 else {}))
    server = start_server()
    r = post_image(server.url, src, model="gaussian-filter")
    assert r.status_code == 200, r.text
    out, meta = decode(r.content, tmp_path, suffix)
    assert meta.format == read_image(src)[1].format and meta.bit_depth == depth
    quality = str(DEFAULT_JPEG_QUALITY) if suffix == ".jpg" else None  # read from its tables
    assert r.headers.get("x-restorekit-jpeg-quality") == quality
    assert out.shape == rgb.shape


def test_jpeg_task_picks_the_deblocker_made_for_the_uploads_quality(start_server, helpers,
                                                                   tmp_path: Path) -> None:
    from PIL import Image

    from restorekit.zoo import default_model

    gray = Image.fromarray(np.round(helpers.clean_image(48) * 255).astype(np.uint8))
    server = start_server()
    for quality in (15, 90):
        gray.save(tmp_path / f"q{quality}.jpg", quality=quality)
        r = post_image(server.url, tmp_path / f"q{quality}.jpg", task="jpeg")
        assert r.status_code == 200, r.text
        assert r.headers["x-restorekit-jpeg-quality"] == str(quality)
        assert r.headers["x-restorekit-method"] == default_model("jpeg", 1, quality=quality)
    assert default_model("jpeg", 1, quality=15) != default_model("jpeg", 1, quality=90)


def test_super_resolution_and_inpainting(start_server, helpers, tmp_path: Path) -> None:
    clean = helpers.clean_image(32)
    src = write_image(tmp_path / "small.png", clean)
    server = start_server()
    r = post_image(server.url, src, task="sr", scale="3")
    assert r.status_code == 200, r.text
    assert decode(r.content, tmp_path, ".png")[0].shape == (96, 96)

    holed = clean.copy()
    holed[10:20, 8:24] = 0.0
    mask = np.zeros_like(clean)
    mask[10:20, 8:24] = 1.0
    src = write_image(tmp_path / "holed.png", holed)
    mask_path = write_image(tmp_path / "mask.png", mask)
    with open(src, "rb") as f, open(mask_path, "rb") as m:
        r = httpx.post(server.url + "/api/restore", data={"task": "inpaint"}, timeout=60,
                       files={"file": ("holed.png", f), "mask": ("mask.png", m)})
    assert r.status_code == 200, r.text
    out = decode(r.content, tmp_path, ".png")[0]
    assert psnr(out, clean) > psnr(holed, clean) + 10
    assert np.abs(out[mask == 0] - clean[mask == 0]).max() < 1 / 255 + 1e-6


def test_corrupt_and_truncated_uploads_are_refused_clearly(start_server, noisy_pair) -> None:
    server = start_server()
    r = httpx.post(server.url + "/api/restore", files={"file": ("x.png", b"GIF? no, junk")})
    assert r.status_code == 415
    assert r.json()["detail"] == ("'x.png' is not a PNG, JPEG, TIFF, BMP or WebP image "
                                  "(content not recognised)")
    data = noisy_pair[1].read_bytes()
    r = httpx.post(server.url + "/api/restore",
                   files={"file": ("cut.png", data[: len(data) // 2])}, timeout=60)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert "cut.png" in detail and "truncated" in detail and "restorekit-serve" not in detail


def _multipart(fields: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = "testboundary1234"
    parts = []
    for name, (filename, content) in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                     f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                     .encode() + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), boundary


def test_oversize_uploads_are_refused(start_server, tmp_path: Path) -> None:
    server = start_server(max_upload_bytes=20_000)
    big = write_image(tmp_path / "big.png", np.random.default_rng(0).random((400, 400)))
    assert big.stat().st_size > 2 * 20_000 + 64 * 1024  # refused from Content-Length alone
    r = post_image(server.url, big)
    assert r.status_code == 413
    assert r.json()["detail"] == "the upload is too large: the limit is 20,000 bytes per file"

    medium = write_image(tmp_path / "medium.png", np.random.default_rng(0).random((180, 180)))
    assert 20_000 < medium.stat().st_size < 2 * 20_000 + 64 * 1024  # refused while copying
    r = post_image(server.url, medium)
    assert r.status_code == 413 and "too large" in r.json()["detail"]

    body, boundary = _multipart({"file": ("big.png", big.read_bytes())})

    def chunks():  # no Content-Length: counted as it streams
        for i in range(0, len(body), 8192):
            yield body[i:i + 8192]

    r = httpx.post(server.url + "/api/restore", content=chunks(),
                   headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 413 and "too large" in r.json()["detail"]
    assert list(server.app.state.serve.folder.root.iterdir()) == []


def test_pixel_limits_and_decompression_bombs(start_server, helpers, tmp_path: Path,
                                              noisy_pair) -> None:
    server = start_server(max_pixels=3000)
    r = post_image(server.url, noisy_pair[1])
    assert r.status_code == 413
    assert r.json()["detail"] == ("'noisy.png' is 64x64 = 4,096 pixels, over this server's limit "
                                  "of 3,000 (refused before decoding: possible decompression "
                                  "bomb)")
    bomb = helpers.png_header_only(tmp_path / "bomb.png", 60_000, 60_000)
    r = post_image(server.url, bomb)
    assert r.status_code == 413 and "decompression bomb" in r.json()["detail"]
    small = write_image(tmp_path / "s.png", helpers.clean_image(32))  # 1024 px in, 9216 out
    r = post_image(server.url, small, task="sr", scale="3")
    assert r.status_code == 413 and "x3 result" in r.json()["detail"]


def test_formats_outside_the_allowed_list_are_refused(start_server, helpers,
                                                      tmp_path: Path) -> None:
    server = start_server(allowed_formats=("PNG",))
    bmp = write_image(tmp_path / "a.bmp", helpers.clean_image(16))
    r = post_image(server.url, bmp)
    assert r.status_code == 415
    assert r.json()["detail"] == "'a.bmp' is a BMP image; this server accepts PNG"


@pytest.mark.parametrize("fields,status,text", [
    ({"task": "deblur"}, 400, "unknown task 'deblur'"),
    ({"model": "nlm@/etc/passwd"}, 400, "unknown model 'nlm@/etc/passwd'"),
    ({"model": "dncnn"}, 400, "unknown model 'dncnn'"),  # untrained network: not offered
    ({"sigma": "abc"}, 400, "sigma must be a number"),
    ({"sigma": "300"}, 400, "sigma must be between 0 and 255"),
    ({"task": "sr", "scale": "5"}, 400, "scale must be one of 2, 3, 4"),
    ({"task": "sr"}, 400, "task sr needs a scale"),
    ({"scale": "2"}, 400, "scale applies to task sr"),
    ({"task": "jpeg", "sigma": "10"}, 400, "sigma applies to task denoise"),
    ({"task": "inpaint"}, 400, "inpainting needs a mask"),
])
def test_bad_fields_get_one_clear_message(start_server, noisy_pair, fields: dict[str, str],
                                          status: int, text: str) -> None:
    server = start_server()
    r = post_image(server.url, noisy_pair[1], **fields)
    assert r.status_code == status and text in r.json()["detail"]


def test_missing_file_field(start_server) -> None:
    server = start_server()
    r = httpx.post(server.url + "/api/restore", data={"task": "denoise"})
    assert r.status_code == 422 and r.json()["detail"] == "missing form field 'file'"


def test_job_flow_with_progress_previews_and_download(start_server, noisy_pair) -> None:
    server = start_server()
    r = post_image(server.url, noisy_pair[1], endpoint="/api/jobs", model="nlm")
    assert r.status_code == 202
    job_id = r.json()["id"]
    deadline = time.monotonic() + 30
    seen = []
    while time.monotonic() < deadline:
        status = httpx.get(f"{server.url}/api/jobs/{job_id}").json()
        seen.append(status["state"])
        if status["state"] in ("done", "error"):
            break
        time.sleep(0.05)
    assert status["state"] == "done", status
    assert status["progress"] == 1.0 and status["info"]["method"] == "nlm"
    assert 20 < status["info"]["noise_sigma"] < 30
    assert status["info"]["jpeg_quality"] is None  # a PNG
    assert status["download_name"] == "noisy_restored.png"
    for which in ("input", "output"):
        preview = httpx.get(server.url + status["preview_urls"][which])
        assert preview.status_code == 200 and preview.headers["content-type"] == "image/png"
        from PIL import Image

        with Image.open(io.BytesIO(preview.content)) as im:
            assert im.size == (64, 64)
    result = httpx.get(server.url + status["result_url"])
    assert result.status_code == 200 and result.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert httpx.get(f"{server.url}/api/jobs/unknownjob").status_code == 404
    assert httpx.get(f"{server.url}/api/jobs/bad..id").status_code == 422


def _slow_restore(release: threading.Event | None = None, seconds: float = 5.0):
    def slow(image, request, *, progress=None, **kwargs):
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end and not (release and release.is_set()):
            progress(i, 1000)  # a tiled network reports like this
            i += 1
            time.sleep(0.01)
        return image, {"method": "slow", "sigma": None, "sigma_estimated": False,
                       "seconds": 0.0, "width": image.shape[1], "height": image.shape[0]}
    return slow


def test_timeout_answers_504(start_server, noisy_pair, monkeypatch) -> None:
    monkeypatch.setattr("restorekit.serve.app.run_restore", _slow_restore())
    server = start_server(timeout_seconds=0.5)
    start = time.monotonic()
    r = post_image(server.url, noisy_pair[1])
    assert r.status_code == 504 and "timed out after 0.5 s" in r.json()["detail"]
    assert time.monotonic() - start < 4


def test_requests_beyond_workers_queue_and_a_full_queue_is_503(start_server, noisy_pair,
                                                               monkeypatch) -> None:
    release = threading.Event()
    monkeypatch.setattr("restorekit.serve.app.run_restore", _slow_restore(release, 20))
    server = start_server(workers=1, max_queue=1)
    first = post_image(server.url, noisy_pair[1], endpoint="/api/jobs").json()["id"]
    second = post_image(server.url, noisy_pair[1], endpoint="/api/jobs").json()["id"]
    deadline = time.monotonic() + 10
    while httpx.get(f"{server.url}/api/jobs/{first}").json()["state"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    status = httpx.get(f"{server.url}/api/jobs/{second}").json()
    assert status["state"] == "queued" and status["queue_position"] == 1
    third = post_image(server.url, noisy_pair[1], endpoint="/api/jobs")
    assert third.status_code == 503 and "busy" in third.json()["detail"]
    folder = server.app.state.serve.folder.root
    assert len(list(folder.iterdir())) == 2  # the refused upload was not kept
    release.set()
    for job in (first, second):
        while httpx.get(f"{server.url}/api/jobs/{job}").json()["state"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.02)


def test_other_host_names_are_refused(start_server) -> None:
    server = start_server()
    r = httpx.get(server.url + "/api/config", headers={"host": "attacker.example"})
    assert r.status_code == 400  # the JSON error body of every other refusal
    assert "invalid Host header 'attacker.example'" in r.json()["detail"]
    port = server.url.rsplit(":", 1)[1]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "LOCALHOST"):
        assert httpx.get(server.url + "/api/config", headers={"host": host}).status_code == 200


def test_page_and_static_files_are_served(start_server) -> None:
    server = start_server()
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and 'id="restore"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("app.js", "style.css"):
        assert httpx.get(f"{server.url}/static/{name}").status_code == 200
    assert httpx.get(server.url + "/static/../app.py").status_code == 404


def test_uploads_are_cleaned_up(start_server, noisy_pair) -> None:
    server = start_server()
    folder = server.app.state.serve.folder.root
    post_image(server.url, noisy_pair[1], model="gaussian-filter")
    post_image(server.url, noisy_pair[1], task="deblur")
    assert folder.is_dir() and list(folder.iterdir()) == []
    server.stop()
    assert not folder.exists()
