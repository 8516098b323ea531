"""Tune the offline backend's clustering on real recordings, with synthetic ones for coverage.

Development data:
- ``../shared/data/real-dev`` (or ``--real-dev``): real recordings with human references.
  Their mean DER (collar 0, overlap scored) is the objective.
- A synthetic coverage set (espeak-ng voices with distinct vocal tracts, seed 5): 2, 5 and 8
  speakers and one 10-minute 4-speaker conversation. Only their speaker *counts* enter the
  objective (2 points per speaker miscounted): espeak voices are not real voices, but a rule
  that cannot count 8 of them or holds on 1 minute and not on 10 is wrong for a reason.
- pyannote's 30 s sample is scored and printed, never optimised.

Segmentation, embeddings, silero-vad regions and the embeddings of filled regions are
computed once per file, so the sweep over threshold x minimum cluster size x relative
minimum cluster size x minimum speech per speaker is cheap. The chosen row minimises the objective averaged with its
neighbouring thresholds (a flat region, not a lucky point).

    python bench/tune_offline.py [--real-dev DIR] [--out bench/tune_offline.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from echonote.results.der import evaluate  # noqa: E402
from echonote.worker.audio import decode_audio  # noqa: E402
from echonote.worker.backends.offline import (  # noqa: E402
    DEFAULT_SPEECH_FILL,
    build_pipeline,
    clip_annotation,
    region_embedder,
)
from echonote.worker.clustering import absorb_small_speakers  # noqa: E402
from echonote.worker.speech_fill import SileroSpeech, fill_missed_speech  # noqa: E402
from echonote.worker.stitching import StitchedSpeakerDiarization  # noqa: E402

THRESHOLDS = (0.55, 0.6, 0.65, 0.7, 0.75, 0.8)
MIN_SIZES = (3, 12)
MIN_SPEAKER_SECONDS = (0.0, 2.0)
FRACTIONS = (0.0, 0.02, 0.04)
COVERAGE = [("cover2", 2, 60.0), ("cover5", 5, 120.0), ("cover8", 8, 180.0), ("cover4_10min", 4, 600.0)]
COUNT_PENALTY = 0.02  # DER points (as a fraction) per speaker miscounted on the coverage set


class CachedDiarization(StitchedSpeakerDiarization):
    """Reuses segmentation and embeddings per file (they do not depend on the tuned parameters)."""

    cache: dict = {}

    def get_segmentations(self, file, hook=None):
        key = ("seg", file["uri"])
        if key not in self.cache:
            self.cache[key] = super().get_segmentations(file, hook=hook)
        return self.cache[key]

    def get_embeddings(self, file, binary_segmentations, exclude_overlap=False, hook=None):
        key = ("emb", file["uri"])
        if key not in self.cache:
            self.cache[key] = super().get_embeddings(file, binary_segmentations, exclude_overlap, hook)
        return self.cache[key]


def dev_files(real_dev: Path, cache: Path) -> dict[str, dict]:
    """name -> {wav, rttm, kind} for the real recordings, the sample and the coverage set."""
    from echonote.testing.synth import conversation_file

    files = {}
    if real_dev.is_dir():
        for wav in sorted(real_dev.glob("*.wav")):
            if wav.with_suffix(".rttm").is_file():
                files[wav.stem] = {"wav": wav, "rttm": wav.with_suffix(".rttm"), "kind": "real"}
    sample = Path(next(iter(importlib.util.find_spec("pyannote.audio").submodule_search_locations))) / "sample"
    files["sample"] = {"wav": sample / "sample.wav", "rttm": sample / "sample.rttm", "kind": "sample"}
    for i, (uri, speakers, seconds) in enumerate(COVERAGE):
        wav = conversation_file(cache, uri, 5000 + i, duration=seconds, num_speakers=speakers, tract_spread=0.2)
        files[uri] = {"wav": wav, "rttm": wav.with_suffix(".rttm"), "kind": "coverage"}
    return files


def memoised(embed):
    """``embed(start, end)`` computed once per region (the same gaps recur across the sweep)."""
    memo: dict = {}

    def cached(start: float, end: float):
        if (start, end) not in memo:
            memo[(start, end)] = embed(start, end)
        return memo[(start, end)]

    return cached


def score_row(files: dict, scores: dict) -> dict:
    real = [scores[n]["der"] for n, f in files.items() if f["kind"] == "real"]
    miscounted = sum(abs(scores[n]["found"] - scores[n]["speakers"]) for n, f in files.items()
                     if f["kind"] == "coverage")
    return {"real_mean_der": float(np.mean(real)) if real else float("nan"), "coverage_miscounted": miscounted,
            "sample_der": scores["sample"]["der"],
            "objective": (float(np.mean(real)) if real else 0.0) + COUNT_PENALTY * miscounted}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real-dev", default=str(ROOT.parent / "shared" / "data" / "real-dev"))
    parser.add_argument("--cache", default=str(ROOT / "bench" / ".cache" / "coverage"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "tune_offline.json"))
    args = parser.parse_args(argv)

    files = dev_files(Path(args.real_dev), Path(args.cache))
    if not any(f["kind"] == "real" for f in files.values()):
        print(f"note: no real recordings in {args.real_dev}; tuning on the coverage set alone is not meaningful",
              file=sys.stderr)
    pipeline = build_pipeline(pipeline_class=CachedDiarization)
    speech = SileroSpeech()
    fill = dict(DEFAULT_SPEECH_FILL)
    fill.pop("enabled")
    vad_threshold = fill.pop("threshold")
    audio = {n: decode_audio(f["wav"]).waveform for n, f in files.items()}
    regions = {n: speech.regions(a, threshold=vad_threshold) for n, a in audio.items()}
    embedders = {name: memoised(region_embedder(pipeline, samples)) for name, samples in audio.items()}

    from pyannote.database.util import load_rttm

    references = {n: next(iter(load_rttm(str(f["rttm"])).values())) for n, f in files.items()}
    started = time.perf_counter()
    rows = []
    for seconds, threshold, size, fraction in itertools.product(MIN_SPEAKER_SECONDS, THRESHOLDS, MIN_SIZES,
                                                                FRACTIONS):
        pipeline.instantiate({"clustering": {"method": "centroid", "threshold": threshold, "min_cluster_size": size,
                                             "min_cluster_fraction": fraction}})
        scores = {}
        for name, samples in audio.items():
            output = pipeline({"waveform": torch.from_numpy(samples)[None], "sample_rate": 16000, "uri": name})
            raw = output.speaker_diarization
            annotation, centroids, labels = absorb_small_speakers(
                clip_annotation(raw, samples.size / 16000), output.speaker_embeddings, list(raw.labels()), seconds)
            annotation, _ = fill_missed_speech(annotation, regions[name], centroids=centroids, labels=labels,
                                               embed=embedders[name], **fill)
            result = evaluate(references[name], annotation, uri=name)
            scores[name] = {"der": result["der"], "missed": result["missed"], "false_alarm": result["false_alarm"],
                            "confusion": result["confusion"], "speakers": len(references[name].labels()),
                            "found": len(annotation.labels())}
        row = {"min_speaker_seconds": seconds, "threshold": threshold, "min_cluster_size": size,
               "min_cluster_fraction": fraction,
               **score_row(files, scores), "files": scores}
        rows.append(row)
        print(f"min speaker {seconds:.0f} s, threshold {threshold:.2f}, min size {size:2d} "
              f"fraction {fraction:.2f}: real mean DER "
              f"{100 * row['real_mean_der']:5.1f} %, coverage miscounted {row['coverage_miscounted']}, sample DER "
              f"{100 * row['sample_der']:4.1f} % | " + " ".join(
                  f"{n}:{100 * s['der']:.0f}%/{s['found']}({s['speakers']})" for n, s in scores.items()), flush=True)

    for seconds, size, fraction in itertools.product(MIN_SPEAKER_SECONDS, MIN_SIZES, FRACTIONS):  # along thresholds
        group = [r for r in rows if r["min_cluster_size"] == size and r["min_cluster_fraction"] == fraction
                 and r["min_speaker_seconds"] == seconds]
        raw = np.array([r["objective"] for r in group])
        smooth = np.convolve(np.pad(raw, 1, mode="edge"), np.ones(3) / 3, mode="valid")
        for row, value in zip(group, smooth, strict=True):
            row["smoothed_objective"] = float(value)
    best = min(rows, key=lambda r: (r["smoothed_objective"], r["objective"]))
    result = {
        "dev_set": {n: {"kind": f["kind"], "file": str(f["wav"].name)} for n, f in files.items()},
        "objective": "mean real-dev DER (collar 0, overlap scored) + 2 points per speaker miscounted on the "
                     "synthetic coverage set, averaged with the neighbouring thresholds",
        "speech_fill": DEFAULT_SPEECH_FILL,
        "chosen": {k: v for k, v in best.items() if k != "files"},
        "sweep_seconds": round(time.perf_counter() - started, 1),
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print("chosen:", json.dumps(result["chosen"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
