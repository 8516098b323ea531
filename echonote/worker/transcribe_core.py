"""One transcription job, start to finish: validate, decode, transcribe, summarise.

Both the ``echonote.transcribe`` task and ``echonote transcribe --local`` call
:func:`run_transcription`, which returns a JSON-serialisable dict shaped like
:func:`echonote.worker.diarize_core.run_diarization`'s (audio, request,
backend metadata, limits, timings, rtf).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping

from echonote import config
from echonote.worker.asr import Progress
from echonote.worker.backend_options import transcription_options
from echonote.worker.inputs import Limits, decode_step
from echonote.worker.provenance import provenance

__all__ = ["run_transcription", "words_to_text"]


def words_to_text(words: list[dict]) -> str:
    """The transcript as one string (words joined by single spaces)."""
    return " ".join(word["word"] for word in words)


def _check_language(language) -> str | None:
    if language is None or language == "":
        return None
    if not isinstance(language, str) or not language.isalpha() or not 2 <= len(language) <= 3:
        raise ValueError(f"language must be a language code such as 'en' or 'fr', got {language!r}. "
                         f"Leave it out to let the model detect the language.")
    return language.lower()


def run_transcription(
    path: str | os.PathLike,
    *,
    backend: str = "offline",
    backend_options: Mapping | None = None,
    language: str | None = None,
    progress: Progress | None = None,
    roots: Iterable[str | os.PathLike] | None = None,
    limits: Limits | Mapping | None = None,
) -> dict:
    """Transcribe the audio file at ``path``; returns words with times, text and how they were made.

    ``backend_options`` are the backend's keyword arguments; None builds them from the settings
    (:func:`echonote.worker.backend_options.transcription_options`).
    ``progress(step, completed, total)`` is called for ``decode``, ``transcribe`` and ``done``.
    Bad options raise ``ValueError``; bad audio raises ``AudioInputError`` (a ``ValueError`` too);
    a model that cannot be had raises ``ModelUnavailable`` (a ``ValueError``); an unreachable
    endpoint raises ``AsrUnavailable`` (worth a retry). Models are loaded once per process.
    """
    started = time.perf_counter()
    language = _check_language(language)
    limits = Limits.coerce(limits)
    report = progress or (lambda *args: None)

    decoded = decode_step(path, roots, limits, report)
    decoded_at = time.perf_counter()

    from echonote.worker.asr import get_backend

    if backend_options is None:
        backend_options = transcription_options(backend, config.load())
    engine = get_backend(backend, **dict(backend_options))
    loaded_at = time.perf_counter()
    words, metadata = engine.transcribe(decoded.waveform, language=language, progress=progress)
    finished = time.perf_counter()

    result = {
        "words": words,
        "text": words_to_text(words),
        "language": metadata.pop("language", language),
        "duration": round(decoded.duration, 3),
        "note": "no speech found" if not words else None,
        **provenance(decoded, limits, {"backend": backend, "language": language}, metadata, stage="transcribe",
                     marks=(started, decoded_at, decoded_at, loaded_at, finished)),
    }
    report("done", 1, 1)
    return result
