"""Atomic writes: a crash leaves the old folder (or none), never half of a new one."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_dir(out: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling folder of ``out``; on success it replaces ``out`` by rename."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def save_atomic(obj, out: str | Path) -> Path:
    """``obj.save_to_disk(...)`` (datasets) or ``obj.save_pretrained(...)`` (models), atomically."""
    with atomic_dir(out) as tmp:
        if hasattr(obj, "save_to_disk"):
            obj.save_to_disk(str(tmp))
        else:
            obj.save_pretrained(str(tmp))
    return Path(out)
