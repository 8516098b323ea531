"""The ``echonote.diarize`` task: audio path in, speaker turns out, with live progress.

Models load once per worker process (the backend cache), never per task.
Bad input fails at once with a readable message and no retry; passing
failures (TransientError) retry with bounded, jittered backoff; writing a
result file is retried on its own, so a full disk never re-runs the model.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from echonote import config, names
from echonote.celery_app import app
from echonote.errors import BadInput
from echonote.worker import job_tracking
from echonote.worker.progress import ProgressReporter
from echonote.worker.base_task import JOB_TASK_OPTIONS, EchonoteTask
from echonote.worker.paths import safe_child

#: overall-percent span of each diarization step (pyannote's hook names plus ours)
STEP_SPANS = {
    "decode": (0.0, 5.0),
    "segmentation": (5.0, 35.0),
    "speaker_counting": (35.0, 40.0),
    "embeddings": (40.0, 92.0),
    "clustering": (92.0, 98.0),
    "discrete_diarization": (92.0, 98.0),
    "write": (98.0, 100.0),
    "done": (100.0, 100.0),
}


def result_dir_for(task_id: str | None) -> Path:
    """The folder a task's outputs go to: ``results_dir/<task id>``; a task id that is not a plain
    name (absolute, ``..``, a separator) is refused, since anyone who can send a message chooses it."""
    return safe_child(config.load().path("results_dir"), task_id or f"local-{os.getpid()}-{int(time.time())}",
                      "task id")


def output_path(out_dir: Path, audio_path: str, suffix: str) -> Path:
    """``out_dir/<stem of audio_path><suffix>``, refused unless it is a plain name inside ``out_dir``."""
    return safe_child(out_dir, f"{Path(audio_path).stem}{suffix}", "output file name")


def backend_options(backend: str, cfg: config.Config) -> dict:
    if backend == "pyannote":
        if not cfg.pyannote_pipeline:
            raise BadInput(
                "the pyannote backend needs a pipeline: set ECHONOTE_PYANNOTE_PIPELINE to a hub id "
                "(with ECHONOTE_HF_TOKEN) or to a local pipeline directory / config.yaml."
            )
        options = {"pipeline": cfg.pyannote_pipeline, "device": cfg.device}
        if cfg.hf_token:
            options["token"] = cfg.hf_token
        return options
    return {"device": cfg.device}


def diarize_file(audio_path: str, *, num_speakers=None, min_speakers=None, max_speakers=None, backend=None,
                 progress=None, out_dir: Path | None = None, task_id: str | None = None, roots=None) -> dict:
    """Diarize one file and write ``<stem>.rttm`` and ``<stem>.json``; shared by the task and ``--local``."""
    from echonote.worker import diarize_core
    from echonote.worker.backends import model_loads

    cfg = config.load()
    backend = backend or cfg.diarization_backend
    try:
        result = diarize_core.run_diarization(
            audio_path, num_speakers=num_speakers, min_speakers=min_speakers, max_speakers=max_speakers,
            backend=backend, backend_options=backend_options(backend, cfg), progress=progress,
            roots=roots or cfg.audio_roots, limits={"max_duration": cfg.max_audio_seconds, "max_bytes": cfg.max_audio_bytes},
        )
    except BadInput:
        raise
    except ValueError as exc:  # AudioInputError and option errors: the user's to fix
        raise BadInput(str(exc)) from None
    out = out_dir or result_dir_for(task_id)
    rttm_target, json_target = output_path(out, audio_path, ".rttm"), output_path(out, audio_path, ".json")
    # Each write is retried on its own (diarize_core.ResultWriteError after a few tries): a full
    # disk must not re-run the whole diarization.
    if progress:
        progress("write", 0, 1)
    rttm = diarize_core.write_rttm(result, rttm_target, uri=Path(audio_path).stem)
    result.update(result_path=str(json_target), rttm_path=str(rttm), worker_pid=os.getpid(),
                  model_loads=model_loads())
    diarize_core.write_json(result, json_target)
    if progress:
        progress("write", 1, 1)
    return result


@app.task(name=names.DIARIZE, base=EchonoteTask, **JOB_TASK_OPTIONS)
def diarize(self, audio_path: str, num_speakers=None, min_speakers=None, max_speakers=None, backend=None,
            job_id=None) -> dict:
    """Diarize ``audio_path`` (a path under the data/upload roots, never the bytes)."""
    if not isinstance(audio_path, str) or not audio_path:
        raise BadInput(f"audio_path must be a non-empty string path, got {audio_path!r}")
    out_dir = result_dir_for(self.request.id)  # refuse a hostile task id before any work is done
    job_id = job_id or job_tracking.job_id_of(self)
    reporter = ProgressReporter(self, job_id, STEP_SPANS)
    return diarize_file(audio_path, num_speakers=num_speakers, min_speakers=min_speakers, max_speakers=max_speakers,
                        backend=backend, progress=reporter, out_dir=out_dir)
