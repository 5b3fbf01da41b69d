"""Atomic, verified training checkpoints (``accelerator.save_state``) and exact resume.

A checkpoint is written to a temporary folder and renamed, with a manifest of checksums
(``checkpoint.json``) that ``latest_checkpoint`` verifies, so a run killed at any point
resumes from its newest complete checkpoint and never loads half of one.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from accelerate import Accelerator

MANIFEST = "checkpoint.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_checkpoint(
    accelerator: Accelerator, out: str | Path, micro_step: int, extra: dict | None = None, keep: int = 2
) -> Path:
    """``accelerator.save_state`` into ``out/checkpoints/step_N`` atomically, with a manifest.

    Every process calls this (each saves its own RNG state). The folder appears under its
    final name only once complete, with the checksums of its files in ``checkpoint.json``.
    """
    root = Path(out) / "checkpoints"
    final = root / f"step_{micro_step:08d}"
    tmp = root / f".tmp_step_{micro_step:08d}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        files = {p.relative_to(tmp).as_posix(): _sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        (tmp / MANIFEST).write_text(json.dumps({"micro_step": micro_step, "files": files, **(extra or {})}, indent=1))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        for old in sorted(root.glob("step_*"))[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def verify_checkpoint(path: Path) -> dict | None:
    """The manifest if every listed file is present and matches its checksum, else None."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        ok = all(_sha256(path / name) == digest for name, digest in manifest["files"].items())
    except (OSError, ValueError, KeyError):
        return None
    return manifest if ok else None


def latest_checkpoint(out: str | Path) -> tuple[Path, dict] | None:
    """The newest complete, verified checkpoint under ``out/checkpoints`` (half-written ones are skipped)."""
    for path in sorted((Path(out) / "checkpoints").glob("step_*"), reverse=True):
        manifest = verify_checkpoint(path)
        if manifest is not None:
            return path, manifest
    return None


def resume_from_latest(accelerator: Accelerator, out: str | Path, found: tuple[Path, dict] | None) -> int:
    """Load ``found`` (``latest_checkpoint(out)``, looked up once by the caller) into the prepared
    objects; return its micro step (0 if none)."""
    if found is None:
        accelerator.print(f"no complete checkpoint under {out}/checkpoints: starting at step 0")
        return 0
    path, manifest = found
    accelerator.load_state(str(path))
    accelerator.print(f"resumed from {path} (micro step {manifest['micro_step']})")
    return int(manifest["micro_step"])
