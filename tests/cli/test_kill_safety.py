"""A batch restore killed with SIGKILL at seeded random moments, then resumed with
``--skip-existing``: no partial, corrupt or temporary files, no file restored twice (beyond the
one in flight when killed), and the result equals an uninterrupted run byte for byte.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restorekit.atomic import HOST_TAG

REPO = Path(__file__).resolve().parents[2]
FILES = 12
METHOD = "median"  # classical and deterministic: two runs give the same bytes
STATUS = re.compile(r"^(\S+) -> (\S+)\s+method=", re.MULTILINE)

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("RESTOREKIT_MAX_PIXELS", None)
    return env


def command(src: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "restorekit", "restore", str(src), "-o", str(out),
            "--method", METHOD, "--sigma", "25", *extra]


def make_inputs(folder: Path) -> list[str]:
    folder.mkdir()
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:96, 0:112]
    names = []
    for i in range(FILES):
        img = 0.5 + 0.3 * np.sin(x / (4 + i)) * np.cos(y / 7)
        img = np.clip(img[..., None] + 0.1 * rng.standard_normal((96, 112, 3)), 0, 1)
        name = f"img{i:02d}.png"
        Image.fromarray((img * 255).astype(np.uint8)).save(folder / name)
        names.append(name)
    return names


def visible(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if not p.name.startswith(".")} \
        if folder.exists() else set()


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) \
        if folder.exists() else []


def identity(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


def test_sigkilled_batch_resumes_without_partial_or_duplicate_work(tmp_path: Path) -> None:
    src, ref, out = tmp_path / "in", tmp_path / "reference", tmp_path / "out"
    names = make_inputs(src)
    env = child_env()

    start = time.monotonic()
    clean = subprocess.run(command(src, ref), env=env, capture_output=True, text=True,
                           timeout=300)
    seconds = time.monotonic() - start
    assert clean.returncode == 0, clean.stderr
    assert visible(ref) == set(names) and not hidden(ref)
    reference = {n: (ref / n).read_bytes() for n in names}
    per_file = seconds / FILES

    rng = np.random.default_rng(20261129)
    seen: dict[str, tuple[int, int]] = {}  # name -> (inode, mtime) when first seen complete
    kills = 0
    for _ in range(3):
        before = visible(out)
        if len(before) >= FILES - 1:
            break
        # Kill after a random number of new outputs, a random fraction of a file later: the
        # moment falls anywhere in reading, restoring or writing a file.
        wait_for = len(before) + int(rng.integers(1, max(2, (FILES - len(before)) // 2)))
        extra = float(rng.uniform(0.0, 1.2)) * per_file
        proc = subprocess.Popen(command(src, out, "--skip-existing"), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while len(visible(out)) < wait_for and proc.poll() is None:
                assert time.monotonic() < deadline, "the restore made no progress"
                time.sleep(0.005)
            time.sleep(extra)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=60)  # reaped: its PID is gone, so its temporaries are stale

        # Whatever is visible is complete and correct; nothing seen earlier was rewritten.
        now = visible(out)
        assert now <= set(names) and before <= now
        for name in now:
            assert (out / name).read_bytes() == reference[name], f"{name} is partial or corrupt"
            seen.setdefault(name, identity(out / name))
            assert identity(out / name) == seen[name], f"{name} was restored twice"
        # At most the file in flight left a temporary behind.
        assert len(hidden(out)) <= 1, hidden(out)
    assert kills >= 1, "no kill landed before the batch finished"

    present = visible(out)
    final = subprocess.run(command(src, out, "--skip-existing"), env=env, capture_output=True,
                           text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    restored = {Path(m.group(2)).name for m in STATUS.finditer(final.stderr)}
    assert restored == set(names) - present  # each missing file once, no existing one again
    assert f"{len(present)} skipped" in final.stderr or not present

    assert visible(out) == set(names)
    assert not hidden(out), f"temporary files left: {hidden(out)}"
    for name in names:
        assert (out / name).read_bytes() == reference[name]
    for name, ident in seen.items():
        assert identity(out / name) == ident, f"{name} was rewritten by the resumed run"


STUCK_WRITER = """
import sys, time
import numpy as np
import restorekit.io as rio

def stuck(fh, *args, **kwargs):
    fh.write(b"\\x89PNG half an image")
    fh.flush()
    print("writing", flush=True)
    time.sleep(600)

rio._encode_pillow = stuck
rio.write_image(sys.argv[1], np.zeros((8, 8), np.float32))
"""


def test_a_writer_killed_mid_write_leaves_nothing_after_the_resume(tmp_path: Path) -> None:
    """Deterministic in-flight case: SIGKILL while the encoder is writing the temporary file."""
    src, out = tmp_path / "in", tmp_path / "out"
    names = make_inputs(src)
    out.mkdir()
    target = out / names[0]
    proc = subprocess.Popen([sys.executable, "-c", STUCK_WRITER, str(target)], env=child_env(),
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not target.exists()  # never a partial file under the real name
    (temp,) = hidden(out)
    assert temp.startswith(f".{names[0]}.{HOST_TAG}-{proc.pid}-")

    done = subprocess.run(command(src, out, "--skip-existing"), env=child_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert visible(out) == set(names) and not hidden(out)
    with Image.open(target) as im:
        assert im.size == (112, 96)
