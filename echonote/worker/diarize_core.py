"""One diarization, start to finish: check the speaker options, decode, diarize, summarise.

Both the Celery task and ``echonote diarize --local`` call :func:`run_diarization`,
which returns a JSON-serialisable dict. What every job shares lives beside it:
reading the audio in :mod:`echonote.worker.inputs`, the shared result fields in
:mod:`echonote.worker.provenance`, writing RTTM and JSON in :mod:`echonote.worker.outputs`.
"""

from __future__ import annotations

import numbers
import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from echonote.worker.inputs import Limits, decode_step
from echonote.worker.outputs import annotation_to_segments
from echonote.worker.provenance import provenance

__all__ = [
    "MAX_SPEAKERS",
    "NO_SPEECH_NOTE",
    "run_diarization",
    "validate_speaker_options",
]

MAX_SPEAKERS = 100
NO_SPEECH_NOTE = "no speech found"
Progress = Callable[[str, int, int], Any]


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
    identify_for: str | None = None,
) -> dict:
    """Diarize the audio file at ``path`` and return a JSON-serialisable result.

    ``progress(step, completed, total)`` is called for decoding, each pipeline step and
    at the end. Bad speaker options raise ``ValueError``; bad audio raises
    ``AudioInputError`` (a ``ValueError`` too). Models are loaded once per process. With
    ``identify_for`` (a user name), speakers take the names of that user's voiceprints
    (:func:`echonote.worker.voiceprints.apply_identification`).
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
    if identify_for is not None:
        from echonote.worker.voiceprints import apply_identification

        report("identify", 0, 1)
        result = apply_identification(result, decoded.waveform, identify_for)
        report("identify", 1, 1)
    report("done", 1, 1)
    return result
