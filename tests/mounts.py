"""Real file-system faults for tests: a small disk that fills up, a folder that is truly read-only.

Both use mounts (a tmpfs, a read-only bind mount), because root — which CI runs as — ignores
permission bits, so ``chmod`` cannot make a folder read-only for it. Mounting needs root: outside
CI a non-root run skips these tests; in CI (``CI=true``) a missing privilege fails them instead.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def require_root() -> None:
    """Skip (or, in CI, fail) a test that needs to mount file systems."""
    if os.geteuid() == 0:
        return
    if os.environ.get("CI"):
        pytest.fail("this test mounts a tmpfs and needs root; CI runs as root")
    pytest.skip("mounting a tmpfs needs root")


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


@contextlib.contextmanager
def small_disk(path: Path, size: str = "8m") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` at ``path`` (created if needed) and unmount it afterwards."""
    require_root()
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    try:
        yield path
    finally:
        _umount(path)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill ``disk`` up to ``leave`` free bytes with one file; return it (delete it to free the space)."""
    filler = disk / "filler.bin"
    with filler.open("wb") as f:
        try:
            while True:
                stat = os.statvfs(disk)
                free = stat.f_bavail * stat.f_frsize - leave
                if free <= 0:
                    break
                f.write(b"\0" * min(free, 1 << 16))
                f.flush()
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return filler


def remount(point: Path, mode: str) -> None:
    """Remount the tmpfs at ``point`` read-only (``"ro"``) or writable again (``"rw"``)."""
    _mount("-o", f"remount,{mode}", str(point))


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """Make ``path`` (a folder) read-only for everyone, root included, until the block ends."""
    require_root()
    _mount("--bind", str(path), str(path))
    try:
        _mount("-o", "remount,bind,ro", str(path))
        yield path
    finally:
        _umount(path)
