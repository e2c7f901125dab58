"""Files changed safely: a small file written whole or not at all, a damaged one kept aside under a free name."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a synced temporary file beside it and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def aside_name(path: Path, stem: str, suffix: str = "") -> Path:
    """Return the free name beside ``path`` to keep a damaged file as: ``<stem>.damaged-<time><suffix>``.

    A second one within the same second gets ``-2``, ``-3``…: nothing kept aside is ever overwritten.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    kept = path.with_name(f"{stem}.damaged-{stamp}{suffix}")
    for n in range(2, 1000):
        if not kept.exists():
            break
        kept = path.with_name(f"{stem}.damaged-{stamp}-{n}{suffix}")
    return kept
