"""``echonote benchmark``'s runs: each reference pair diarized in this process, as ``echonote diarize --local``
does, models loaded and warmed up before the first timed file.

Finding the pairs and scoring the runs is light and lives in :mod:`echonote.results.benchmark`;
this module runs the worker's code, so it lives with it.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from echonote.results.benchmark import WARM_UP_SECONDS, BenchmarkError, FileRun, Pair, PeakMemory, Progress

__all__ = ["run_pairs"]


def _warm_up(pair: Pair, diarize: Callable, workdir: Path, progress: Progress) -> dict:
    """Load the models and run once on the first seconds of ``pair``, so no timed file pays for either."""
    import soundfile as sf

    from echonote.worker.audio import decode_audio

    started = time.perf_counter()
    decoded = decode_audio(pair.audio, roots=[pair.audio.parent], max_duration=None, max_bytes=None)
    excerpt = workdir / "warm-up.wav"
    sf.write(excerpt, decoded.waveform[: int(WARM_UP_SECONDS * decoded.sample_rate)], decoded.sample_rate)
    result = diarize(excerpt)
    seconds = time.perf_counter() - started
    progress(f"models loaded and warmed up on {min(WARM_UP_SECONDS, decoded.duration):.0f} s of {pair.name} "
             f"in {seconds:.1f} s")
    return {"file": pair.name, "audio_seconds": round(min(WARM_UP_SECONDS, decoded.duration), 3),
            "seconds": round(seconds, 3), "model_load_seconds": result["timings"]["model_load"]}


def run_pairs(pairs: list[Pair], *, backend: str | None = None, rttm_dir: str | Path | None = None,
              progress: Progress | None = None, memory: PeakMemory | None = None,
              **speaker_options) -> tuple[list[FileRun], list[dict], dict]:
    """Diarize every pair in this process as ``echonote diarize --local`` does; returns (runs, failures, run info).

    Models load and warm up before the first timed file. Per file: processing seconds
    (decode + diarize + write, wall clock) and the peak RSS while it ran. A file the
    worker refuses (too long, undecodable) is a failure ``{name, error}``; the others still run.
    """
    from echonote import config
    from echonote.errors import BadInput
    from echonote.worker.audio import AudioInputError
    from echonote.worker.diarization import diarize_file

    progress = progress or (lambda message: None)
    memory = memory or PeakMemory()
    audio_roots = config.load().audio_roots
    runs, failures = [], []
    with tempfile.TemporaryDirectory(prefix="echonote-benchmark-") as tmp:
        workdir = Path(tmp)

        def diarize(path: Path) -> dict:
            # as --local: the user's own files may lie outside the data roots
            return diarize_file(str(path.resolve()), backend=backend, out_dir=workdir,
                                roots=[*audio_roots, path.resolve().parent], **speaker_options)

        warm_up = {}
        for pair in pairs:  # the first file that decodes; one that does not fails below, with its reason
            try:
                warm_up = _warm_up(pair, diarize, workdir, progress)
                break
            except AudioInputError:
                continue
            except BadInput as exc:  # the backend's settings, not the file
                raise BenchmarkError(f"{pair.audio.name}: {exc}") from None
        warm_up["peak_rss_mb"] = round(memory.peak_mb(), 1)
        info = {"warm_up": warm_up, "peak_rss_method": memory.description}
        for number, pair in enumerate(pairs, start=1):
            memory.reset()
            started = time.perf_counter()
            try:
                result = diarize(pair.audio)
            except BadInput as exc:
                failures.append({"name": pair.name, "error": str(exc)})
                progress(f"[{number}/{len(pairs)}] {pair.name}: failed: {exc}")
                continue
            seconds = time.perf_counter() - started
            run = FileRun(pair, result["segments"], result["duration"], seconds, memory.peak_mb(),
                          extra={"timings": result["timings"], "note": result.get("note")})
            if rttm_dir is not None:
                target = Path(rttm_dir) / f"{pair.name}.rttm"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(result["rttm_path"], target)
                run.extra["hypothesis_rttm"] = str(target)
            info.setdefault("backend", {key: result.get(key) for key in
                                        ("backend", "device", "models", "parameters", "versions", "request")})
            runs.append(run)
            progress(f"[{number}/{len(pairs)}] {pair.name}: {run.duration:.1f} s of audio in {seconds:.2f} s "
                     f"(RTF {seconds / run.duration:.3f}), {run.speakers} speaker(s) found, "
                     f"{pair.speakers} in the reference, peak RSS {run.peak_rss_mb:.0f} MB")
    return runs, failures, info
