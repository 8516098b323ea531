"""A job's audio in: the per-job limits and the decode step every job starts with.

Diarization and transcription both call :func:`decode_step`: it decodes the file (a local
path within the job's roots, or an object by URI through the worker's cache) within the job's
limits, reports the ``decode`` step and settles the job's charge on the duration actually decoded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from echonote import storage
from echonote.worker import object_cache
from echonote.worker.audio import DEFAULT_MAX_BYTES, DEFAULT_MAX_DURATION, AudioInputError, DecodedAudio, decode_audio

__all__ = ["Limits", "decode_any", "decode_step"]


@dataclass(frozen=True)
class Limits:
    """Per-job input limits (the task wires them from the settings)."""

    max_duration: float | None = DEFAULT_MAX_DURATION  # seconds
    max_bytes: int | None = DEFAULT_MAX_BYTES

    @classmethod
    def coerce(cls, value: Limits | Mapping | None) -> Limits:
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        unknown = set(value) - {"max_duration", "max_bytes"}
        if unknown:
            raise ValueError(f"Unknown limit(s) {sorted(unknown)}; use max_duration (seconds) and max_bytes.")
        return cls(**value)


def decode_any(path, roots, limits: Limits) -> DecodedAudio:
    """Decode a local path (within the folders in ``roots``) or an object's URI (s3://, https://: fetched into
    the worker's cache first, see :mod:`echonote.worker.object_cache`); a remote result's ``path`` is its URI.

    A URI must lie under the store, ECHONOTE_STORAGE_SOURCES or a URI prefix given in ``roots`` (``--local``
    passes the one the user named), as a path must lie under a folder in ``roots``."""
    location = storage.parse(path)
    prefixes = [r for r in roots or () if isinstance(r, str) and storage.is_uri(r)]
    if not location.remote:
        folders = None if roots is None else [r for r in roots if r not in prefixes]
        return decode_audio(location.path, roots=folders, max_duration=limits.max_duration, max_bytes=limits.max_bytes)
    storage.check_source(location, prefixes)
    uri = str(location)
    with object_cache.local_copy(uri, max_bytes=limits.max_bytes) as local:
        try:
            decoded = decode_audio(local, roots=None, max_duration=limits.max_duration, max_bytes=limits.max_bytes)
        except AudioInputError as exc:  # name the object, not the cache's file
            raise AudioInputError(str(exc).replace(str(local), uri).replace(local.name, uri)) from None
    decoded.path = uri
    return decoded


def decode_step(path, roots, limits: Limits, report) -> DecodedAudio:
    """Decode ``path`` (a path or URI, :func:`decode_any`) within the job's roots and limits, reporting the
    ``decode`` step."""
    report("decode", 0, 1)
    decoded = decode_any(path, roots, limits)
    from echonote.worker.charging import settle_charge

    settle_charge(decoded.duration)  # the job is charged what was decoded (refused beyond the quota)
    report("decode", 1, 1)
    return decoded
