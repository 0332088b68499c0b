"""A real uvicorn server on a free loopback port, and small noisy/clean test images."""

from __future__ import annotations

import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the 'serve' extra (fastapi) is not installed")
pytest.importorskip("uvicorn", reason="the 'serve' extra (uvicorn) is not installed")
pytest.importorskip("httpx", reason="httpx is not installed")

import uvicorn  # noqa: E402

from restorekit.io import write_image  # noqa: E402
from restorekit.serve import ServeSettings, create_app  # noqa: E402


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """uvicorn running ``create_app(settings)`` in a background thread."""

    def __init__(self, settings: ServeSettings) -> None:
        self.app = create_app(settings)
        config = uvicorn.Config(self.app, host=settings.host, port=settings.port,
                                log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.url = f"http://{settings.host}:{settings.port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def start_server() -> Iterator[Callable[..., LiveServer]]:
    """Start servers with the given ServeSettings fields; all are stopped after the test."""
    servers: list[LiveServer] = []

    def start(**fields: object) -> LiveServer:
        fields.setdefault("workers", 1)
        settings = ServeSettings(host="127.0.0.1", port=free_port(), **fields)  # type: ignore[arg-type]
        server = LiveServer(settings).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def clean_image(size: int = 64) -> np.ndarray:
    """A smooth gray test image with an edge, float32 in [0, 1]."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    img = 0.5 + 0.3 * np.sin(x / 7.0) * np.cos(y / 9.0)
    img[size // 3:2 * size // 3, size // 4:3 * size // 4] += 0.15
    return np.clip(img, 0, 1).astype(np.float32)


def noisy_of(clean: np.ndarray, sigma: float = 25.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(clean + rng.normal(0, sigma / 255.0, clean.shape), 0, 1).astype(np.float32)


@pytest.fixture
def noisy_pair(tmp_path: Path) -> tuple[Path, Path]:
    """(clean.png, noisy.png): 64x64 8-bit gray, Gaussian noise sigma 25, seed 0."""
    clean = clean_image()
    clean_path = write_image(tmp_path / "clean.png", clean)
    noisy_path = write_image(tmp_path / "noisy.png", noisy_of(clean))
    return clean_path, noisy_path


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims width x height (a decompression-bomb shape)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat)
                     + _chunk(b"IEND", b""))
    return path


@pytest.fixture
def helpers() -> SimpleNamespace:
    """Image makers shared by the tests of this folder (test modules cannot import each other)."""
    return SimpleNamespace(clean_image=clean_image, noisy_of=noisy_of,
                           png_header_only=png_header_only)
