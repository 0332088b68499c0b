"""Downloader against real HTTP servers on 127.0.0.1 (never the internet): checksums, mirrors,
Range resume, offline no-op, and the ``restorekit data download`` command."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from restorekit.cli.data import data_group
from restorekit.cli.state import CliState
from restorekit.data import mnist
from restorekit.data.download import (
    DownloadError,
    RemoteFile,
    check_file,
    download_file,
    download_files,
)
from restorekit.errors import RestorekitError

DEAD = "http://127.0.0.1:9/"  # discard port: nothing listens, connection refused at once


def idx_bytes(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def tiny_mnist(n: int = 6, seed: int = 0) -> dict[str, bytes]:
    """A valid tiny MNIST file set (gzipped IDX), keyed by the official file names."""
    rng = np.random.default_rng(seed)
    files = {}
    for prefix in ("train", "t10k"):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        files[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(idx_bytes(images), mtime=0)
        files[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(labels), mtime=0)
    return files


def remote(name: str, data: bytes) -> RemoteFile:
    return RemoteFile(name, len(data), hashlib.md5(data).hexdigest(),
                      hashlib.sha256(data).hexdigest())


class Server:
    """A tiny HTTP server: serves ``files``, honours Range, can cut a transfer short."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)
        self.requests: list[tuple[str, str | None]] = []
        self.drop_first: set[str] = set()  # names whose first full transfer is cut in half
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                name = self.path.lstrip("/").split("/")[-1]
                rng_header = self.headers.get("Range")
                outer.requests.append((name, rng_header))
                data = outer.files.get(name)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                if rng_header:
                    start = int(rng_header.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                if name in outer.drop_first and not rng_header:
                    outer.drop_first.discard(name)
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/mnist/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,),
                                       daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def files() -> dict[str, bytes]:
    return tiny_mnist()


@pytest.fixture
def remotes(files: dict[str, bytes]) -> list[RemoteFile]:
    return [remote(n, d) for n, d in files.items()]


@pytest.fixture
def server(files: dict[str, bytes]) -> Iterator[Server]:
    with Server(files) as srv:
        yield srv


def test_downloads_verifies_and_reads(tmp_path: Path, server: Server,
                                      remotes: list[RemoteFile]) -> None:
    paths = download_files(remotes, tmp_path / "mnist", [server.url], quiet=True)
    assert [p.name for p in paths] == [r.name for r in remotes]
    assert all(check_file(p, r) is None for p, r in zip(paths, remotes, strict=True))
    assert not list((tmp_path / "mnist").glob("*.part"))
    images, labels = mnist.load_mnist(tmp_path / "mnist", "test")
    assert images.shape == (6, 28, 28) and labels.shape == (6,)


def test_verified_files_mean_no_network(tmp_path: Path, server: Server,
                                        remotes: list[RemoteFile]) -> None:
    download_files(remotes, tmp_path, [server.url], quiet=True)
    count = len(server.requests)
    download_files(remotes, tmp_path, [DEAD], quiet=True)  # offline: must not even try
    assert len(server.requests) == count


def test_corrupt_mirror_is_skipped(tmp_path: Path, files: dict[str, bytes],
                                   remotes: list[RemoteFile]) -> None:
    bad = {n: d[:-1] + bytes([d[-1] ^ 0xFF]) for n, d in files.items()}  # same size, wrong sum
    with Server(bad) as corrupt, Server(files) as good:
        download_file(remotes[0], tmp_path, [corrupt.url, good.url], quiet=True)
        assert len(corrupt.requests) == 1 and len(good.requests) == 1
    assert check_file(tmp_path / remotes[0].name, remotes[0]) is None
    assert not list(tmp_path.glob("*.part"))


def test_missing_file_on_mirror_then_next(tmp_path: Path, server: Server,
                                          remotes: list[RemoteFile]) -> None:
    with Server({}) as empty:
        path = download_file(remotes[1], tmp_path, [DEAD, empty.url, server.url], quiet=True)
    assert check_file(path, remotes[1]) is None


def test_dropped_connection_resumes_with_range(tmp_path: Path, server: Server,
                                               files: dict[str, bytes],
                                               remotes: list[RemoteFile]) -> None:
    name = remotes[0].name
    server.drop_first.add(name)
    path = download_file(remotes[0], tmp_path, [server.url], quiet=True)
    assert path.read_bytes() == files[name]
    assert server.requests[0] == (name, None)
    half = len(files[name]) // 2
    assert server.requests[1] == (name, f"bytes={half}-")
    assert len(server.requests) == 2


def test_part_file_from_an_earlier_run_is_resumed(tmp_path: Path, server: Server,
                                                  files: dict[str, bytes],
                                                  remotes: list[RemoteFile]) -> None:
    name = remotes[0].name
    (tmp_path / f"{name}.part").write_bytes(files[name][:100])
    download_file(remotes[0], tmp_path, [server.url], quiet=True)
    assert server.requests == [(name, "bytes=100-")]
    assert (tmp_path / name).read_bytes() == files[name]


def test_bad_part_file_is_discarded_and_refetched(tmp_path: Path, server: Server,
                                                  files: dict[str, bytes],
                                                  remotes: list[RemoteFile]) -> None:
    name = remotes[0].name
    (tmp_path / f"{name}.part").write_bytes(b"\0" * 100)  # wrong prefix: resume gives garbage
    download_file(remotes[0], tmp_path, [server.url], quiet=True)
    assert server.requests == [(name, "bytes=100-"), (name, None)]
    assert (tmp_path / name).read_bytes() == files[name]


def test_complete_part_file_needs_no_transfer(tmp_path: Path, server: Server,
                                              files: dict[str, bytes],
                                              remotes: list[RemoteFile]) -> None:
    name = remotes[2].name
    (tmp_path / f"{name}.part").write_bytes(files[name])
    download_file(remotes[2], tmp_path, [server.url], quiet=True)
    assert server.requests == [(name, f"bytes={len(files[name])}-")]  # answered 416
    assert (tmp_path / name).read_bytes() == files[name]


def test_corrupt_existing_target_is_replaced(tmp_path: Path, server: Server,
                                             files: dict[str, bytes],
                                             remotes: list[RemoteFile]) -> None:
    name = remotes[3].name
    (tmp_path / name).write_bytes(b"junk")
    download_file(remotes[3], tmp_path, [server.url], quiet=True)
    assert (tmp_path / name).read_bytes() == files[name]


def test_all_mirrors_failing_is_one_clear_error(tmp_path: Path, files: dict[str, bytes],
                                                remotes: list[RemoteFile]) -> None:
    bad = {n: d[:-1] + bytes([d[-1] ^ 0xFF]) for n, d in files.items()}
    with Server(bad) as corrupt:
        with pytest.raises(DownloadError) as info:
            download_file(remotes[0], tmp_path, [DEAD, corrupt.url], quiet=True)
    message = str(info.value)
    assert isinstance(info.value, RestorekitError) and "\n" not in message
    assert remotes[0].name in message and "md5" in message and "127.0.0.1:9" in message
    assert not list(tmp_path.iterdir())  # neither target nor .part left behind


def test_cli_download_with_mirror(tmp_path: Path, server: Server,
                                  remotes: list[RemoteFile],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mnist, "MNIST_FILES", {r.name: r for r in remotes})
    root = tmp_path / "m"
    result = CliRunner().invoke(data_group, ["download", "mnist", "--root", str(root),
                                             "--mirror", DEAD, "--mirror", server.url],
                                obj=CliState(quiet=True))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in root.iterdir()) == sorted(r.name for r in remotes)
    assert mnist.load_mnist(root, "train")[0].shape == (6, 28, 28)


def test_real_mnist_files_verify_offline(dataset, tmp_path: Path) -> None:
    """The published checksums match the real files, and a verified set needs no network."""
    src = dataset("mnist")
    for r in mnist.MNIST_FILES.values():
        shutil.copy(src / r.name, tmp_path / r.name)  # never risk touching the shared copy
    paths = mnist.download_mnist(tmp_path, [DEAD], quiet=True)
    assert len(paths) == 4 and all(p.parent == tmp_path for p in paths)
    sums = dict(line.split()[::-1] for line in (src / "SHA256SUMS").read_text().splitlines()
                if line.strip())
    assert {r.name: r.sha256 for r in mnist.MNIST_FILES.values()} == sums
