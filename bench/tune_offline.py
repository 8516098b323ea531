"""Tune the offline backend on development data only; writes bench/tune_offline.json.

Development data = pyannote's 30 s sample plus synthetic espeak-ng conversations
(seed 1; the benchmark uses other seeds). Segmentation and embeddings are computed
once per (segmentation_step, embedding_stride) structure and cached, so sweeping
the clustering threshold and minimum cluster size is cheap.

The chosen threshold minimises a *smoothed* objective (mean DER of the sample and of
the synthetic set, averaged with the neighbouring thresholds) so that it sits in a
flat region rather than on a lucky point: real meetings are scored too.

    python bench/tune_offline.py [--n 8] [--steps 0.1,0.2] [--strides 1,3] [--sizes 6,12]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from echonote.evaluation import evaluate  # noqa: E402
from echonote.worker.audio import decode_audio  # noqa: E402
from echonote.worker.backends.offline import build_pipeline, run_pipeline  # noqa: E402
from echonote.worker.stitching import StitchedSpeakerDiarization  # noqa: E402


class CachedDiarization(StitchedSpeakerDiarization):
    """Reuses segmentation and embeddings per file (they do not depend on the tuned parameters)."""

    cache: dict = {}
    timings: dict = {}

    def get_segmentations(self, file, hook=None):
        key = ("seg", file["uri"])
        if key not in self.cache:
            t = time.perf_counter()
            self.cache[key] = super().get_segmentations(file, hook=hook)
            self.timings[key] = time.perf_counter() - t
        return self.cache[key]

    def get_embeddings(self, file, binary_segmentations, exclude_overlap=False, hook=None):
        key = ("emb", file["uri"])
        if key not in self.cache:
            t = time.perf_counter()
            self.cache[key] = super().get_embeddings(file, binary_segmentations, exclude_overlap, hook)
            self.timings[key] = time.perf_counter() - t
        return self.cache[key]


def dev_files(data: Path, n: int, seed: int = 1) -> list[tuple[str, Path, Path]]:
    """(name, wav, rttm) for the sample and ``n`` synthetic conversations (generated if missing)."""
    import importlib.util

    from echonote.synth import generate_set

    sample = Path(next(iter(importlib.util.find_spec("pyannote.audio").submodule_search_locations))) / "sample"
    files = [("sample", sample / "sample.wav", sample / "sample.rttm")]
    manifest = data / "manifest.json"
    if not manifest.is_file() or json.loads(manifest.read_text()).get("n") != n:
        generate_set(data, n, seed, duration=90.0)
    for entry in json.loads(manifest.read_text())["files"]:
        files.append((entry["uri"], data / f"{entry['uri']}.wav", data / f"{entry['uri']}.rttm"))
    return files


def sweep(structure: dict, files, thresholds, min_cluster_sizes) -> list[dict]:
    CachedDiarization.cache.clear()
    CachedDiarization.timings.clear()
    pipeline = build_pipeline(pipeline=structure, pipeline_class=CachedDiarization)
    audio = {name: decode_audio(wav).waveform for name, wav, _ in files}
    total_seconds = sum(len(a) for a in audio.values()) / 16000
    rows = []
    for size in min_cluster_sizes:
        for threshold in thresholds:
            pipeline.instantiate({"clustering": {"method": "centroid", "min_cluster_size": size,
                                                 "threshold": threshold}})
            der0, der25 = {}, {}
            for name, _, rttm in files:
                annotation = run_pipeline(pipeline, audio[name], uri=name)
                der0[name] = evaluate(rttm, annotation)["der"]
                der25[name] = evaluate(rttm, annotation, collar=0.25)["der"]
            synth = [k for k in der0 if k != "sample"]
            rows.append({
                **structure, "threshold": round(threshold, 3), "min_cluster_size": size,
                "sample_der": der0["sample"], "sample_der_collar025": der25["sample"],
                "synth_der": float(np.mean([der0[k] for k in synth])),
                "synth_der_collar025": float(np.mean([der25[k] for k in synth])),
            })
    compute = sum(CachedDiarization.timings.values())
    for row in rows:
        row["compute_rtf"] = compute / total_seconds  # segmentation + embeddings, wall clock
    return rows


def choose(rows: list[dict]) -> dict:
    """Smoothed objective over the threshold axis, per (structure, min_cluster_size)."""
    best = None
    groups: dict = {}
    for row in rows:
        groups.setdefault((row["segmentation_step"], row["embedding_stride"], row["min_cluster_size"]), []).append(row)
    for group in groups.values():
        group.sort(key=lambda r: r["threshold"])
        raw = np.array([(r["sample_der"] + r["synth_der"]) / 2 for r in group])
        smooth = np.convolve(np.pad(raw, 1, mode="edge"), np.ones(3) / 3, mode="valid")
        for row, value in zip(group, smooth):
            row["objective"] = float(value)
            if best is None or value < best["objective"]:
                best = row
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT / "bench" / ".cache" / "dev"), help="dev-set folder")
    parser.add_argument("--n", type=int, default=8, help="synthetic dev conversations (default 8)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "tune_offline.json"))
    parser.add_argument("--steps", default="0.1", help="segmentation steps, comma-separated (default 0.1)")
    parser.add_argument("--strides", default="1,3", help="embedding strides, comma-separated (default 1,3)")
    parser.add_argument("--sizes", default="6,12", help="min cluster sizes, comma-separated (default 6,12)")
    args = parser.parse_args(argv)

    files = dev_files(Path(args.data), args.n)
    thresholds = np.round(np.arange(0.45, 0.951, 0.05), 3)
    structures = [{"segmentation_step": float(step), "embedding_stride": int(stride)}
                  for step in args.steps.split(",") for stride in args.strides.split(",")]
    sizes = tuple(int(s) for s in args.sizes.split(","))

    rows = []
    for structure in structures:
        t = time.perf_counter()
        rows.extend(sweep(structure, files, thresholds, sizes))
        print(f"{structure}: {time.perf_counter() - t:.0f} s", flush=True)
    best = choose(rows)
    result = {
        "dev_set": {"sample": "pyannote/audio/sample/sample.wav", "synthetic": {"seed": 1, "n": args.n,
                                                                                  "duration": 90.0}},
        "grid": {"structures": structures, "thresholds": thresholds.tolist(), "min_cluster_sizes": sizes},
        "objective": "mean of sample DER and synthetic mean DER (collar 0, overlap scored), "
                     "smoothed over neighbouring thresholds",
        "chosen": best,
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print("chosen:", json.dumps(best))
    for row in sorted(rows, key=lambda r: r["objective"])[:10]:
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
