"""Checksummed, resumable downloads from a list of mirrors (standard library HTTP only).

A file is fetched into ``NAME.part`` beside its target; a broken transfer is resumed with an
HTTP ``Range`` request (from the same process after a dropped connection, or from a later run),
the result is checked against its size, MD5 and SHA-256, and only then renamed to ``NAME``. A
download that fails its checks is deleted and the next mirror is tried. A target that already
verifies is left alone without touching the network, so a finished download works offline.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from restorekit.errors import RestorekitError

CHUNK = 1 << 16
USER_AGENT = "restorekit-downloader/1"


@dataclass(frozen=True)
class RemoteFile:
    """A file to fetch: its name (appended to each mirror URL) and what it must hash to."""

    name: str
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None


class DownloadError(RestorekitError):
    """No mirror delivered a file that passed its checks."""


def file_digests(path: str | Path) -> tuple[str, str]:
    """Return ``(md5, sha256)`` hex digests of a file, read in chunks."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            md5.update(block)
            sha.update(block)
    return md5.hexdigest(), sha.hexdigest()


def check_file(path: str | Path, remote: RemoteFile) -> str | None:
    """Return ``None`` when ``path`` matches ``remote``'s size and checksums, else the reason."""
    path = Path(path)
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        return f"size {size} != expected {remote.size}"
    if remote.md5 is None and remote.sha256 is None:
        return None
    md5, sha = file_digests(path)
    if remote.md5 is not None and md5 != remote.md5.lower():
        return f"md5 {md5} != expected {remote.md5}"
    if remote.sha256 is not None and sha != remote.sha256.lower():
        return f"sha256 {sha} != expected {remote.sha256}"
    return None


def _url(mirror: str, name: str) -> str:
    return mirror if mirror.endswith(name) else mirror.rstrip("/") + "/" + name


class _Dropped(Exception):
    """The connection ended before the announced length; the ``.part`` keeps what arrived."""


def _fetch_once(url: str, part: Path, remote: RemoteFile, timeout: float, quiet: bool) -> None:
    """One HTTP request appending to ``part`` (Range from its current size when non-empty)."""
    offset = part.stat().st_size if part.exists() else 0
    if remote.size is not None and offset > remote.size:
        part.unlink()
        offset = 0
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # nothing left to send: the .part may be complete
            return
        raise
    with response:
        status = response.status
        mode = "ab"
        if status == 206:
            match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                raise _Dropped("server answered the range request with the wrong range")
        else:  # 200: the server ignored Range (or none was sent); start over
            mode, offset = "wb", 0
        length = response.headers.get("Content-Length")
        expected = offset + int(length) if length is not None else remote.size
        from tqdm import tqdm

        with open(part, mode) as out, tqdm(
            total=expected, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
            desc=remote.name, file=sys.stderr, disable=quiet, leave=False, dynamic_ncols=True,
        ) as bar:
            try:
                while block := response.read(CHUNK):
                    out.write(block)
                    bar.update(len(block))
            except (http.client.IncompleteRead, ConnectionError, TimeoutError) as exc:
                raise _Dropped(f"connection dropped ({type(exc).__name__})") from exc
    if expected is not None and part.stat().st_size < expected:
        raise _Dropped("connection closed before the end of the file")


def download_file(remote: RemoteFile, root: str | Path, mirrors: Sequence[str], *,
                  quiet: bool = False, timeout: float = 30.0, retries: int = 3) -> Path:
    """Make sure ``root/remote.name`` exists and verifies; fetch it from ``mirrors`` if not.

    Each mirror is tried in order; a dropped connection is resumed with a Range request up to
    ``retries`` times per mirror; a file failing its checks is deleted (and re-fetched from
    scratch once if it was a resumed one) before moving on to the next mirror.
    """
    root = Path(root)
    target = root / remote.name
    if target.exists():
        if check_file(target, remote) is None:
            return target
        target.unlink()  # stale or corrupt: fetch again
    root.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    failures: list[str] = []
    for mirror in mirrors:
        url = _url(mirror, remote.name)
        attempts, fresh_retry = 0, True
        while True:
            resumed = part.exists() and part.stat().st_size > 0
            try:
                _fetch_once(url, part, remote, timeout, quiet)
            except _Dropped as exc:
                attempts += 1
                if attempts <= retries:
                    continue
                failures.append(f"{url}: {exc}")
                break
            except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
                reason = getattr(exc, "reason", None) or exc
                failures.append(f"{url}: {reason}")
                break
            problem = check_file(part, remote)
            if problem is None:
                os.replace(part, target)
                return target
            part.unlink(missing_ok=True)
            if resumed and fresh_retry:  # the old .part may have been the bad half
                fresh_retry = False
                continue
            failures.append(f"{url}: {problem}")
            break
    if not mirrors:
        failures.append("no mirror URLs given")
    raise DownloadError(f"could not download {remote.name}: " + "; ".join(failures))


def download_files(files: Iterable[RemoteFile], root: str | Path, mirrors: Sequence[str], *,
                   quiet: bool = False, timeout: float = 30.0) -> list[Path]:
    """Download (or verify in place) every file of ``files`` into ``root``; return their paths."""
    return [download_file(f, root, mirrors, quiet=quiet, timeout=timeout) for f in files]
