"""A worker's local copies of audio objects (s3://, https://): bounded, hash-checked, shared by its pool.

Every pool process of a worker (and every worker with the same state directory) shares one folder,
``<state>/object-cache``. An entry is named after the object's URI and version tag (ETag), so a
changed object is fetched again. Fetching is safe in parallel:

- one lock file per entry (``flock``): the first process downloads, the others wait and then find
  the file; a process reading an entry holds the lock shared, so eviction never removes it under it;
- the download goes to a temporary name and is renamed into place only when complete and checked
  (its length against the store's, its sha256 against the one echonote's client stored with the
  upload), so no reader ever sees half a file;
- after each fetch, entries least recently used are deleted until the folder fits
  ``ECHONOTE_STORAGE_CACHE_BYTES`` (entries in use are skipped).

An object is checked before any byte is fetched: larger than ``ECHONOTE_MAX_AUDIO_BYTES`` or than the
cache itself is a :class:`~echonote.errors.BadInput`.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from echonote import config, storage
from echonote.errors import BadInput, TransientError

__all__ = ["ObjectCache", "local_copy"]

_SUFFIX_CHARS = 8


def _fmt_bytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


@dataclass(frozen=True)
class ObjectCache:
    """The cache folder and its bound in bytes."""

    root: Path
    max_bytes: int

    @classmethod
    def from_settings(cls, cfg: config.Config | None = None) -> ObjectCache:
        cfg = cfg or config.load()
        return cls(cfg.state_path / "object-cache", cfg.storage_cache_bytes)

    def entry_name(self, info: storage.ObjectInfo) -> str:
        """The file name of an object's copy: a digest of URI, tag and size, then the object's suffix (decoders
        choose by it)."""
        # neither a tag nor a size: no way to tell a changed object, so such a copy is never reused
        version = f"{info.etag}\0{info.size}" if info.etag or info.size >= 0 else secrets.token_hex(8)
        digest = hashlib.sha256(f"{info.uri}\0{version}".encode()).hexdigest()[:32]
        suffix = Path(storage.parse(info.uri).name).suffix.lower()
        return digest + (suffix if suffix.isascii() and 1 < len(suffix) <= _SUFFIX_CHARS else "")

    @contextmanager
    def _locked(self, name: str, mode: int) -> Iterator[int]:
        """Hold ``flock(mode)`` on the lock file of entry ``name``; yields its descriptor (to change the mode)."""
        locks = self.root / ".locks"
        locks.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(locks / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, mode)
            yield fd
        finally:
            os.close(fd)  # releases the lock

    @contextmanager
    def local_copy(self, uri: str, *, max_bytes: int | None = None, cfg: config.Config | None = None) -> Iterator[Path]:
        """A checked local copy of the object at ``uri``, kept from eviction while the block runs."""
        info = storage.object_info(uri, cfg)
        self._check_size(info, max_bytes)
        bound = min(b for b in (max_bytes, self.max_bytes) if b is not None)  # for a size the server did not say
        name = self.entry_name(info)
        target = self.root / name
        with self._locked(name, fcntl.LOCK_SH) as fd:  # readers share it; eviction needs it exclusive and skips it
            if not target.is_file():
                fcntl.flock(fd, fcntl.LOCK_EX)  # one process fetches (the shared lock is dropped first: no deadlock)
                if not target.is_file():
                    self._fetch(info, target, bound, cfg)
                fcntl.flock(fd, fcntl.LOCK_SH)
                if not target.is_file():  # evicted in the instant the lock changed mode
                    raise TransientError(f"{uri} left the worker's cache before it could be read; retrying.")
            os.utime(target)  # recently used
            self.evict(keep=name)
            yield target

    def _check_size(self, info: storage.ObjectInfo, max_bytes: int | None) -> None:
        if info.size < 0:
            return  # unknown until fetched: the download itself stops at the bound
        if info.size == 0:
            raise BadInput(f"{info.uri} is empty (0 bytes); upload a file that contains audio.")
        if max_bytes is not None and info.size > max_bytes:
            raise BadInput(f"{info.uri} is {_fmt_bytes(info.size)}, larger than the limit of {_fmt_bytes(max_bytes)} "
                           "(ECHONOTE_MAX_AUDIO_BYTES); nothing was downloaded. Compress it (e.g. to FLAC or Opus) "
                           "or split it.")
        if info.size > self.max_bytes:
            raise BadInput(f"{info.uri} is {_fmt_bytes(info.size)}, more than this worker's whole object cache "
                           f"({_fmt_bytes(self.max_bytes)}, ECHONOTE_STORAGE_CACHE_BYTES); nothing was downloaded. "
                           "Raise the cache size on the worker, or split the file.")

    def _fetch(self, info: storage.ObjectInfo, target: Path, bound: int, cfg) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        draft = self.root / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}"
        try:
            fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                sha = storage.download(info.uri, out, expected_size=info.size if info.size >= 0 else None,
                                       max_bytes=bound, cfg=cfg)
            if info.sha256 and sha != info.sha256:
                raise TransientError(f"{info.uri}: the bytes received do not match the sha256 stored with the "
                                     "upload (a damaged transfer); fetching again.")
            os.replace(draft, target)
        except OSError as exc:
            raise storage.describe_error(info.uri, exc, cfg) from None
        finally:
            draft.unlink(missing_ok=True)

    def entries(self) -> list[Path]:
        """The cached copies (no drafts, no locks), least recently used first."""
        found = [p for p in self.root.iterdir() if p.is_file() and not p.name.startswith(".")] \
            if self.root.is_dir() else []
        return sorted(found, key=lambda p: p.stat().st_mtime)

    def size(self) -> int:
        return sum(p.stat().st_size for p in self.entries())

    def evict(self, keep: str | None = None) -> list[str]:
        """Delete least recently used entries until the cache fits its bound; entries in use stay."""
        removed = []
        with self._locked(".evict", fcntl.LOCK_EX):
            entries = [(p, p.stat().st_size) for p in self.entries()]
            total = sum(size for _, size in entries)
            for path, size in entries:
                if total <= self.max_bytes:
                    break
                if path.name != keep and self._try_remove(path):
                    total -= size
                    removed.append(path.name)
        return removed

    def _try_remove(self, path: Path) -> bool:
        """Remove ``path`` unless a process holds its lock (reading or fetching it)."""
        fd = os.open(self.root / ".locks" / f"{path.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            path.unlink(missing_ok=True)
            return True
        finally:
            os.close(fd)


@contextmanager
def local_copy(uri: str, *, max_bytes: int | None = None) -> Iterator[Path]:
    """The object at ``uri`` as a local file in this worker's cache (see :class:`ObjectCache`)."""
    with ObjectCache.from_settings().local_copy(uri, max_bytes=max_bytes) as path:
        yield path

