"""What each model backend is built with, taken from the settings: the one place settings reach the backends.

The task layer, ``--local`` runs and the ASR server pass a ``config.load()`` here and hand
the result to ``get_backend(name, **options)``; backends take these keyword arguments and
never read the environment, so every value has been checked once, by ``config.load()``.
Equal settings give equal options, so the backend cache loads each model once per process.
Secrets (hub token, API key) travel only inside the options, never into results or logs.
"""
from __future__ import annotations

from echonote import config
from echonote.errors import BadInput

__all__ = ["diarization_options", "transcription_options"]


def diarization_options(backend: str, cfg: config.Config) -> dict:
    """Keyword arguments for diarization backend ``backend`` (``offline`` or ``pyannote``)."""
    options = {"device": cfg.device, "torch_threads": cfg.torch_threads}
    if backend != "pyannote":
        return options
    if not cfg.pyannote_pipeline:
        raise BadInput(
            "the pyannote backend needs a pipeline: set ECHONOTE_PYANNOTE_PIPELINE to a hub id "
            "(with ECHONOTE_HF_TOKEN) or to a local pipeline directory / config.yaml."
        )
    options["pipeline"] = cfg.pyannote_pipeline
    if cfg.hf_token:
        options["token"] = cfg.hf_token
    return options


def transcription_options(backend: str, cfg: config.Config) -> dict:
    """Keyword arguments for transcription backend ``backend`` (``offline``, ``whisper`` or ``endpoint``)."""
    if backend == "endpoint":
        return {"base_url": cfg.asr_base_url, "api_key": cfg.asr_api_key, "model": cfg.asr_model}
    # the model cache: where the bundled multilingual model is assembled (the whisper backend asks it the language)
    if backend == "whisper":
        return {"model": cfg.asr_model, "device": cfg.device, "model_cache": str(cfg.model_cache_path)}
    return {"device": cfg.device, "model_cache": str(cfg.model_cache_path)}
