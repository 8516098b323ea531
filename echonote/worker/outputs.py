"""A job's files out: where they go, and writing them atomically (JSON, RTTM) with a few retries.

With an object store configured (``ECHONOTE_STORAGE_URL``) each finished file is also copied to
``<store>/results/<task id>/<name>`` and the result lists those URIs, so a client on another
machine reads them there (:func:`store_uris`, :func:`copy_to_store`).

Readers never see half a file: each one is written beside its target and renamed
over it. Only the write is retried (a disk that is full now may have room in a
moment); the job's work is never re-run for it.
"""

from __future__ import annotations

import errno
import json
import os
import re
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from echonote import config, storage
from echonote.errors import TransientError
from echonote.worker.paths import safe_child

__all__ = [
    "ResultWriteError",
    "WRITE_TRIES",
    "annotation_to_segments",
    "atomic_write",
    "copy_to_store",
    "output_path",
    "result_dir_for",
    "store_uris",
    "write_json",
    "write_rttm",
]

WRITE_TRIES = 3  # a result file is written this many times before the job fails (the job itself is not re-run)


def result_dir_for(task_id: str | None) -> Path:
    """The folder a task's outputs go to: ``results_dir/<task id>``; a task id that is not a plain
    name (absolute, ``..``, a separator) is refused, since anyone who can send a message chooses it."""
    return safe_child(config.load().path("results_dir"), task_id or f"local-{os.getpid()}-{int(time.time())}",
                      "task id")


def output_path(out_dir: Path, stem: str, suffix: str) -> Path:
    """``out_dir/<stem><suffix>`` (see :func:`~echonote.worker.paths.output_stem`), refused unless it is a
    plain name inside ``out_dir``."""
    return safe_child(out_dir, f"{stem}{suffix}", "output file name")


class ResultWriteError(RuntimeError):
    """A result file could not be written after a few tries (disk full, no permission); the message
    names the folder. Re-running the whole job would not help, so nothing retries it."""


def _write_once(target: Path, text: str) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_write(path: str | os.PathLike, text: str, tries: int = WRITE_TRIES, pause: float = 0.5) -> Path:
    """Write to a temporary file beside ``path``, then rename it over ``path`` (readers never see half
    a file); only this write is retried, a few times, before :class:`ResultWriteError`."""
    target = Path(path)
    for attempt in range(1, tries):
        try:
            return _write_once(target, text)
        except OSError:
            time.sleep(pause * attempt)  # a disk that is full now may have room in a moment
    try:
        return _write_once(target, text)
    except OSError as exc:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        raise ResultWriteError(
            f"could not write {target.name} to {target.parent} after {tries} tries: {exc.strerror or exc}. "
            + ("The disk holding the results folder is full: free space there, or point "
               "ECHONOTE_RESULTS_DIR at a bigger disk." if full else
               "Check that the worker may write there, or point ECHONOTE_RESULTS_DIR elsewhere.")
            + " The job's work was done once and is not repeated; submit it again once this is fixed."
        ) from None


def store_uris(out_dir: Path, **files: str | os.PathLike) -> dict[str, str]:
    """``{field: URI}`` each output file will have in the object store (``results/<task id>/<name>``, the task id
    being ``out_dir``'s name); {} when no store is configured. No I/O: the URIs go into the result first."""
    store = storage.configured()
    if store is None:
        return {}
    return {field: storage.result_uri(Path(out_dir).name, Path(path).name, store) for field, path in files.items()}


def copy_to_store(uris: Mapping[str, str], files: Mapping[str, str | os.PathLike], tries: int = WRITE_TRIES,
                  pause: float = 0.5) -> None:
    """Put each finished file ``files[field]`` at ``uris[field]``; a store that fails is tried again a few times
    (only the copy, never the job's work), then :class:`ResultWriteError` with the store's reason."""
    for field, uri in uris.items():
        for attempt in range(1, tries + 1):
            try:
                storage.put_file(files[field], uri)
                break
            except TransientError as exc:
                if attempt == tries:
                    raise ResultWriteError(f"could not copy {Path(files[field]).name} to {uri} after {tries} tries: "
                                           f"{exc} The job's work was done once and is not repeated; submit it "
                                           "again once the store answers.") from None
                time.sleep(pause * attempt)


def annotation_to_segments(annotation) -> list[dict]:
    """Sorted ``[{start, end, speaker}]`` (seconds rounded to ms) from a pyannote Annotation."""
    segments = [
        {"start": round(turn.start, 3), "end": round(turn.end, 3), "speaker": str(label)}
        for turn, _, label in annotation.itertracks(yield_label=True)
    ]
    segments.sort(key=lambda s: (s["start"], s["end"], s["speaker"]))
    return segments


def _segments_of(annotation_or_result) -> list[dict]:
    if isinstance(annotation_or_result, Mapping):
        return list(annotation_or_result["segments"])
    return annotation_to_segments(annotation_or_result)


def _rttm_token(value, default: str) -> str:
    """RTTM fields are space-separated: replace whitespace inside a name."""
    return re.sub(r"\s+", "_", str(value).strip()) or default


def write_rttm(annotation_or_result, path: str | os.PathLike, uri: str = "audio") -> Path:
    """Write an Annotation or a diarization result dict as RTTM (one SPEAKER line per turn)."""
    uri = _rttm_token(uri, "audio")
    lines = [
        f"SPEAKER {uri} 1 {s['start']:.3f} {s['end'] - s['start']:.3f} <NA> <NA> "
        f"{_rttm_token(s['speaker'], 'speaker')} <NA> <NA>\n"
        for s in _segments_of(annotation_or_result)
    ]
    return atomic_write(path, "".join(lines))


def write_json(result: Mapping, path: str | os.PathLike) -> Path:
    """Write a result dict as indented JSON (atomically: readers never see half a file)."""
    return atomic_write(path, json.dumps(result, indent=2, sort_keys=False, default=str) + "\n")
