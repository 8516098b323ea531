"""One diarization job, start to finish: validate, decode, diarize, summarise, write files.

Both the Celery task and ``echonote diarize --local`` call :func:`run_diarization`,
which returns a JSON-serialisable dict; :func:`write_rttm` and :func:`write_json`
store it on disk.
"""

from __future__ import annotations

import errno
import json
import numbers
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from echonote.worker.audio import DEFAULT_MAX_BYTES, DEFAULT_MAX_DURATION, decode_audio

__all__ = [
    "Limits",
    "MAX_SPEAKERS",
    "NO_SPEECH_NOTE",
    "ResultWriteError",
    "annotation_to_segments",
    "run_diarization",
    "validate_speaker_options",
    "write_json",
    "write_rttm",
]

MAX_SPEAKERS = 100
NO_SPEECH_NOTE = "no speech found"
Progress = Callable[[str, int, int], Any]


@dataclass(frozen=True)
class Limits:
    """Per-job input limits (the task wires them from environment variables)."""

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


def _speaker_count(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a whole number of speakers, got {value!r}. Example: {name}=2.")
    value = int(value)
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}. Leave it out to let the model decide.")
    if value > MAX_SPEAKERS:
        raise ValueError(f"{name}={value} is more than the supported maximum of {MAX_SPEAKERS} speakers.")
    return value


def validate_speaker_options(num_speakers=None, min_speakers=None, max_speakers=None):
    """Check the speaker-count options and return them as ints or None; raise ValueError with a fix."""
    num = _speaker_count("num_speakers", num_speakers)
    low = _speaker_count("min_speakers", min_speakers)
    high = _speaker_count("max_speakers", max_speakers)
    if low is not None and high is not None and low > high:
        raise ValueError(f"min_speakers ({low}) is greater than max_speakers ({high}). Swap or correct them.")
    if num is not None and ((low is not None and num < low) or (high is not None and num > high)):
        raise ValueError(
            f"num_speakers={num} contradicts min_speakers={low} / max_speakers={high}. "
            f"Give either an exact num_speakers or a min/max range."
        )
    return num, low, high


def annotation_to_segments(annotation) -> list[dict]:
    """Sorted ``[{start, end, speaker}]`` (seconds rounded to ms) from a pyannote Annotation."""
    segments = [
        {"start": round(turn.start, 3), "end": round(turn.end, 3), "speaker": str(label)}
        for turn, _, label in annotation.itertracks(yield_label=True)
    ]
    segments.sort(key=lambda s: (s["start"], s["end"], s["speaker"]))
    return segments


def _summarise(annotation) -> tuple[list[dict], float, float]:
    """Per-speaker speech time and turn counts, total speech and overlapped speech (seconds)."""
    speakers = []
    for label in sorted(annotation.labels()):
        timeline = annotation.label_timeline(label, copy=False)
        speakers.append({"speaker": str(label), "speech": round(timeline.duration(), 3), "turns": len(timeline)})
    speech = annotation.get_timeline(copy=False).support().duration()
    overlap = annotation.get_overlap().duration()
    return speakers, round(speech, 3), round(overlap, 3)


class _ProgressHook:
    """Adapt pyannote's hook calls to ``progress(step, completed, total)`` (and forward the raw hook)."""

    def __init__(self, progress: Progress | None, hook=None):
        self.progress = progress
        self.hook = hook

    def __call__(self, step_name, artifact, file=None, completed=None, total=None):
        if self.hook is not None:
            self.hook(step_name, artifact, file=file, completed=completed, total=total)
        if self.progress is None:
            return
        if completed is not None and total:
            self.progress(str(step_name), int(min(completed, total)), int(total))
            if step_name == "embeddings" and completed >= total:
                self.progress("clustering", 0, 1)  # clustering starts when the last embedding batch is done
        elif step_name == "discrete_diarization":
            self.progress("clustering", 1, 1)


def run_diarization(
    path: str | os.PathLike,
    *,
    num_speakers: int | None = None,
    min_speakers: int | None = None,
    max_speakers: int | None = None,
    backend: str = "offline",
    backend_options: Mapping | None = None,
    progress: Progress | None = None,
    roots: Iterable[str | os.PathLike] | None = None,
    limits: Limits | Mapping | None = None,
    hook=None,
) -> dict:
    """Diarize the audio file at ``path`` and return a JSON-serialisable result.

    ``progress(step, completed, total)`` is called for decoding, each pipeline step and
    at the end. Bad speaker options raise ``ValueError``; bad audio raises
    ``AudioInputError`` (a ``ValueError`` too). Models are loaded once per process.
    """
    started = time.perf_counter()
    num, low, high = validate_speaker_options(num_speakers, min_speakers, max_speakers)
    limits = Limits.coerce(limits)
    report = progress or (lambda *args: None)

    decoded = decode_step(path, roots, limits, report)
    decoded_at = time.perf_counter()

    from echonote.worker.backends import get_backend

    loading = time.perf_counter()
    engine = get_backend(backend, **dict(backend_options or {}))
    loaded_at = time.perf_counter()
    annotation, metadata = engine.diarize(decoded.waveform, num_speakers=num, min_speakers=low, max_speakers=high,
                                          hook=_ProgressHook(progress, hook))
    finished = time.perf_counter()

    speakers, speech, overlap = _summarise(annotation)
    result = {
        "segments": annotation_to_segments(annotation),
        "speakers": speakers,
        "num_speakers": len(speakers),
        "duration": round(decoded.duration, 3),
        "speech": speech,
        "overlap": overlap,
        "note": NO_SPEECH_NOTE if not speakers else None,
        **provenance(decoded, limits, {"num_speakers": num, "min_speakers": low, "max_speakers": high,
                                       "backend": backend}, metadata, stage="diarize",
                     marks=(started, decoded_at, loading, loaded_at, finished)),
    }
    report("done", 1, 1)
    return result


def decode_step(path, roots, limits: Limits, report):
    """Decode ``path`` within the job's roots and limits, reporting the ``decode`` step."""
    report("decode", 0, 1)
    decoded = decode_audio(path, roots=roots, max_duration=limits.max_duration, max_bytes=limits.max_bytes)
    from echonote.worker.charging import settle_charge

    settle_charge(decoded.duration)  # the job is charged what was decoded (refused beyond the quota)
    report("decode", 1, 1)
    return decoded


def provenance(decoded, limits: Limits, request: dict, metadata: dict, *, stage: str, marks: tuple) -> dict:
    """The fields every job result shares: the audio, what was asked, how it was made, timings and RTF.

    ``marks`` = perf_counter() at (start, decoded, loading models, models loaded, finished).
    """
    started, decoded_at, loading, loaded_at, finished = marks
    work = finished - loaded_at
    return {
        "audio": {
            "path": str(decoded.path),
            "decoder": decoded.decoder,
            "format": decoded.source_format,
            "source_sample_rate": decoded.source_sample_rate,
            "source_channels": decoded.source_channels,
        },
        "request": request,
        **metadata,
        "limits": asdict(limits),
        "timings": {
            "decode": round(decoded_at - started, 3),
            "model_load": round(loaded_at - loading, 3),
            stage: round(work, 3),
            "total": round(finished - started, 3),
        },
        "rtf": round(work / decoded.duration, 4) if decoded.duration else None,
    }


def _segments_of(annotation_or_result) -> list[dict]:
    if isinstance(annotation_or_result, Mapping):
        return list(annotation_or_result["segments"])
    return annotation_to_segments(annotation_or_result)


WRITE_TRIES = 3  # a result file is written this many times before the job fails (the job itself is not re-run)


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


def _atomic_write(path: str | os.PathLike, text: str, tries: int = WRITE_TRIES, pause: float = 0.5) -> Path:
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


def _rttm_token(value, default: str) -> str:
    """RTTM fields are space-separated: replace whitespace inside a name."""
    return re.sub(r"\s+", "_", str(value).strip()) or default


def write_rttm(annotation_or_result, path: str | os.PathLike, uri: str = "audio") -> Path:
    """Write an Annotation or a :func:`run_diarization` result as RTTM (one SPEAKER line per turn)."""
    uri = _rttm_token(uri, "audio")
    lines = [
        f"SPEAKER {uri} 1 {s['start']:.3f} {s['end'] - s['start']:.3f} <NA> <NA> "
        f"{_rttm_token(s['speaker'], 'speaker')} <NA> <NA>\n"
        for s in _segments_of(annotation_or_result)
    ]
    return _atomic_write(path, "".join(lines))


def write_json(result: Mapping, path: str | os.PathLike) -> Path:
    """Write a result dict as indented JSON (atomically: readers never see half a file)."""
    return _atomic_write(path, json.dumps(result, indent=2, sort_keys=False, default=str) + "\n")
