"""Atomic file writes: write a temp file beside the target, fsync, then rename over it.

A reader never sees a half-written file, and a failure leaves neither the temp file nor a
partial target behind. A process killed mid-write (SIGKILL, power loss) cannot clean up, so temp
names carry the writer's host and PID (``.NAME.HOST-PID-HEX.tmpSUFFIX``) and the first write of a
process into a folder removes temp files of this host whose writer no longer exists (a folder
shared between nodes never loses another machine's file in flight).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from restorekit.errors import RestorekitError

_SWEPT_FOLDERS: set[str] = set()
HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import: os.umask is process-wide and not thread-safe


def temp_path(path: str | Path) -> Path:
    """A fresh temp name beside ``path`` (same suffix, so encoders that go by name work)."""
    p = Path(path)
    return p.parent / f".{p.name}.{HOST_TAG}-{os.getpid()}-{secrets.token_hex(6)}.tmp{p.suffix}"


def _is_hex(text: str, length: int) -> bool:
    return len(text) == length and all(c in "0123456789abcdef" for c in text)


def _writer_pid(name: str) -> int | None:
    """The PID in a name :func:`temp_path` made on this host, else None."""
    if not name.startswith(".") or ".tmp" not in name:
        return None
    stem, _, rest = name.rpartition(".tmp")
    parts = stem.rpartition(".")[2].split("-")
    if len(parts) != 3 or "." in rest[1:]:
        return None
    host, pid_text, token = parts
    if host != HOST_TAG or not pid_text.isdigit() or not _is_hex(token, 12):
        return None
    return int(pid_text)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` may exist on this machine (unknown counts as alive)."""
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True  # exists but not ours, or unknown: leave it alone
    return True


def remove_stale_temps(path: str | Path) -> None:
    """Delete temp files of earlier writes into ``path``'s folder whose writer is gone.

    Done once per folder and process (a batch of N files lists the folder once); only names
    :func:`temp_path` creates are touched, and never while their writer process exists.
    """
    folder = os.path.abspath(Path(path).parent)
    if folder in _SWEPT_FOLDERS:
        return
    _SWEPT_FOLDERS.add(folder)
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        pid = _writer_pid(name)
        if pid is not None and not pid_alive(pid):
            with suppress(OSError):
                os.unlink(os.path.join(folder, name))


def atomic_write(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call ``write(temp_path)`` then move the temp file to ``path`` in one rename.

    The folder is first probed by creating and removing the (random) temp name, so a folder
    that takes no new files is one clear :class:`RestorekitError` whatever library then writes,
    and writers that create their file exclusively still can.
    """
    path = Path(path)
    remove_stale_temps(path)
    tmp = temp_path(path)
    try:
        with open(tmp, "xb"):
            pass
        tmp.unlink()
    except OSError as exc:
        raise RestorekitError(f"cannot write {path}: cannot create a file in "
                              f"'{path.parent}': {exc.strerror or exc}") from None
    try:
        write(str(tmp))
        os.chmod(tmp, 0o666 & ~_UMASK)  # some writers create 0600 files; give normal permissions
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
