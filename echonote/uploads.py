"""Put user audio where workers may read it: the upload root, under generated names.

Workers only read inside the configured data/upload roots (a path outside is
refused), so clients stage other files here first. Names are generated; the
original name survives only as a sanitised hint. The root is 0700 and every
upload 0600: another local user reads no one's audio.
"""
from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

from echonote import config
from echonote.private_files import create_private, private_dir

ALLOWED_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".mp4", ".webm", ".aif", ".aiff"}


def _safe_stem(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(name).stem).strip("_")
    return stem[:40] or "audio"


def generated_path(original_name: str, upload_dir: Path | None = None) -> Path:
    suffix = Path(original_name).suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        raise ValueError(
            f"{original_name!r}: {suffix or 'no extension'} is not an audio type echonote accepts; "
            f"use one of {', '.join(sorted(ALLOWED_SUFFIXES))}."
        )
    root = private_dir(upload_dir or config.load().path("upload_dir"))
    return root / f"{_safe_stem(original_name)}-{uuid.uuid4().hex[:12]}{suffix}"


def store_bytes(data: bytes, original_name: str) -> Path:
    """Save uploaded bytes (e.g. from a notebook FileUpload) under a generated name."""
    if not data:
        raise ValueError(f"{original_name!r} is empty (0 bytes); choose a file that contains audio.")
    target = generated_path(original_name)
    with create_private(target) as out:
        out.write(data)
    return target


def is_under_roots(path: Path, roots: list[Path] | None = None) -> bool:
    resolved = path.resolve()
    return any(resolved.is_relative_to(root) for root in (roots or config.load().audio_roots))


def stage(path: str | Path) -> Path:
    """``path`` itself if workers may read it, else a copy in the upload root."""
    source = Path(path).expanduser()
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such file. Check the path (relative paths start at {Path.cwd()}).")
    if is_under_roots(source):
        return source.resolve()
    target = generated_path(source.name)
    with source.open("rb") as audio, create_private(target) as out:
        shutil.copyfileobj(audio, out)
    return target
