"""Private files of one stack: 0700 directories, 0600 files, and its generated secrets.

When ``ECHONOTE_REDIS_PASSWORD`` or ``ECHONOTE_FLOWER_BASIC_AUTH`` is unset, the
first process that needs the value generates it into the state directory;
every role, the CLI and the notebooks then read that same file back through
:mod:`echonote.config`. Light: standard library only (beat imports it).
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

FLOWER_USER = "echonote"


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it 0700, closing one an older version left 0755."""
    path.mkdir(parents=True, exist_ok=True)
    if path.stat().st_uid == os.geteuid():
        path.chmod(0o700)
    return path


def write_private(path: Path, text: str) -> Path:
    """Replace ``path`` with a 0600 file holding ``text``.

    Written under a temporary name and renamed into place: the file is never
    world-readable, and a reader sees the old content or the new, never a part.
    """
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        with create_private(draft, "w") as handle:
            handle.write(text)
        os.replace(draft, path)
    except BaseException:
        draft.unlink(missing_ok=True)
        raise
    return path


def create_private(path: Path, mode: str = "wb"):
    """Create ``path`` as a new 0600 file, whatever the umask, and open it for writing (it must not exist)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), mode)


def open_private_log(path: Path):
    """Open ``path`` for appending as a 0600 file (a role's log)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab")


def read_or_create_secret(path: Path, generate: Callable[[], str]) -> str:
    """The secret stored in ``path``; if there is none, store ``generate()`` first.

    The file is written under a temporary name and hard-linked into place, so
    processes that race here all end up reading the one value that won.
    """
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    private_dir(path.parent)
    draft = write_private(path.with_name(f".{path.name}.new-{os.getpid()}-{secrets.token_hex(4)}"), generate() + "\n")
    try:
        os.link(draft, path)
    except FileExistsError:
        pass  # another process stored one first: use theirs
    finally:
        draft.unlink(missing_ok=True)
    return _read_secret(path)


def _read_secret(path: Path) -> str:
    return path.read_text().rstrip("\n")


#: config key -> file name in the state directory, and how a new value is made
SECRET_FILES = {"redis_password": "redis-password", "flower_basic_auth": "flower-auth"}
GENERATORS: dict[str, Callable[[], str]] = {
    "redis_password": lambda: secrets.token_urlsafe(24),
    "flower_basic_auth": lambda: f"{FLOWER_USER}:{secrets.token_urlsafe(18)}",
}
