"""Put user audio where workers may read it: the upload root, one copy per content.

Workers only read inside the configured data/upload roots (a path outside is
refused), so clients stage other files here first, as
``<upload root>/<user>/<first 16 hex of the sha256>/<sanitised original name>``.
Staging the same bytes again reuses those bytes and touches their mtime, which
beat's cleanup task reads as "last used"; under a new name it adds a hard link,
so jobs and outputs keep the name the user gave while the bytes are stored once. Directories are 0700
and every upload 0600: another local user reads no one's audio.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from echonote import config
from echonote.private_files import create_private, private_dir

ALLOWED_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".mp4", ".webm", ".aif", ".aiff"}
DIGEST_CHARS = 16
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Upload:
    """One uploaded recording: where it is, the name it was uploaded as, its size and when it was last used."""

    path: Path
    name: str
    size: int
    mtime: float


def _safe_stem(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(name).stem).strip("_")
    return stem[:40] or "audio"


def safe_name(original_name: str) -> str:
    """``original_name`` as a plain file name (``../x y.WAV`` -> ``x_y.wav``); refuses non-audio suffixes."""
    suffix = Path(original_name).suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        raise ValueError(
            f"{original_name!r}: {suffix or 'no extension'} is not an audio type echonote accepts; "
            f"use one of {', '.join(sorted(ALLOWED_SUFFIXES))}."
        )
    return _safe_stem(original_name) + suffix


def user_root(user: str | None = None, upload_dir: Path | None = None) -> Path:
    """The folder holding ``user``'s uploads (not created)."""
    from echonote.client.jobs import current_user

    folder = re.sub(r"[^A-Za-z0-9_.-]+", "_", user or current_user()).strip("._") or "user"
    return (upload_dir or config.load().path("upload_dir")) / folder


def _digest(stream: BinaryIO) -> str:
    sha = hashlib.sha256()
    for block in iter(lambda: stream.read(_CHUNK), b""):
        sha.update(block)
    return sha.hexdigest()[:DIGEST_CHARS]


def _existing(folder: Path) -> Path | None:
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")) if folder.is_dir() else []
    return files[0] if files else None


def _touch(path: Path) -> None:
    """Mark ``path`` used now, to the nanosecond: the kernel's own "now" for file times is coarse (a few ms),
    so two uploads in quick succession would tie and the newest-first order would be arbitrary."""
    now = time.time_ns()
    os.utime(path, ns=(now, now))


def _store(original_name: str, digest: str, write, user: str | None) -> Path:
    """The upload with ``digest`` for ``user`` under ``original_name``: the bytes already there (mtime touched,
    and a hard link under this name when it is new: each name the user gave, one copy of the bytes), else
    ``write(handle)``'s."""
    name = safe_name(original_name)
    folder = user_root(user) / digest
    found = _existing(folder)
    if found is not None:
        named = folder / name
        if not named.exists():
            try:
                os.link(found, named)
            except FileExistsError:  # a racing twin linked it first
                pass
        _touch(named)
        return named
    private_dir(folder.parent.parent)  # the upload root, then the user's folder, then this content's
    private_dir(folder.parent)
    private_dir(folder)
    target = folder / name
    draft = folder / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        with create_private(draft) as out:
            write(out)
        os.link(draft, target)  # whole or not at all; a racing twin's file wins
        _touch(target)
    except FileExistsError:
        _touch(target)
    finally:
        draft.unlink(missing_ok=True)
    return target


def store_bytes(data: bytes, original_name: str, user: str | None = None) -> Path:
    """Save uploaded bytes (e.g. from a notebook FileUpload); the same bytes again reuse the stored file."""
    if not data:
        raise ValueError(f"{original_name!r} is empty (0 bytes); choose a file that contains audio.")
    safe_name(original_name)
    return _store(original_name, hashlib.sha256(data).hexdigest()[:DIGEST_CHARS], lambda out: out.write(data), user)


def is_under_roots(path: Path, roots: list[Path] | None = None) -> bool:
    resolved = path.resolve()
    return any(resolved.is_relative_to(root) for root in (roots or config.load().audio_roots))


def stage(path: str | Path, user: str | None = None) -> Path:
    """``path`` itself if workers may read it, else its copy in the user's uploads (made once per content)."""
    source = Path(path).expanduser()
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such file. Check the path (relative paths start at {Path.cwd()}).")
    if is_under_roots(source):
        return source.resolve()
    safe_name(source.name)
    with source.open("rb") as audio:
        digest = _digest(audio)

    def copy(out):
        with source.open("rb") as audio:
            shutil.copyfileobj(audio, out, _CHUNK)

    return _store(source.name, digest, copy, user)


def user_uploads(user: str | None = None) -> list[Upload]:
    """``user``'s uploaded recordings (default: the current user), newest first, one per content."""
    root = user_root(user)
    found = []
    for folder in root.iterdir() if root.is_dir() else ():
        path = _existing(folder)
        if path is None or path.suffix.lower() not in ALLOWED_SUFFIXES:
            continue
        stat = path.stat()
        found.append(Upload(path, path.name, stat.st_size, stat.st_mtime))
    return sorted(found, key=lambda u: u.mtime, reverse=True)
