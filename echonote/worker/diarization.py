"""The ``echonote.diarize`` task: audio path in, speaker turns out, with live progress.

Models load once per worker process (the backend cache), never per task.
Bad input fails at once with a readable message and no retry; passing
failures (TransientError) retry with bounded, jittered backoff; writing a
result file is retried on its own, so a full disk never re-runs the model.
"""
from __future__ import annotations

import os
from pathlib import Path

from echonote import config, names
from echonote.celery_app import app
from echonote.errors import BadInput
from echonote.worker import jobs
from echonote.worker.backend_options import diarization_options
from echonote.worker.base_task import JOB_TASK_OPTIONS, EchonoteTask
from echonote.worker.outputs import copy_to_store, output_path, result_dir_for, store_uris, write_json, write_rttm
from echonote.worker.paths import output_stem
from echonote.worker.progress import ProgressReporter
from echonote.worker.speaker_tasks import owner_of

#: each step's share of a job's time, in percent, measured with the offline backend on CPU (2 cores,
#: models warmed up) on a 3-minute three-speaker synthetic conversation, mean of 2 runs:
#: `.venv/bin/python bench/step_costs.py --seconds 180 --runs 2` gave decode 0.65 s, segmentation
#: (with speaker counting) 14.8 s, embeddings 20.2 s, clustering 0.1 s, speech fill 2.0 s, writing < 0.01 s.
STEP_WEIGHTS = {
    "decode": 2.0,
    "segmentation": 39.0,
    "speaker_counting": 0.0,
    "embeddings": 53.0,
    "clustering": 0.5,
    "speech_fill": 5.0,
    "write": 0.5,
}


def spans_from_weights(weights: dict[str, float]) -> dict[str, tuple[float, float]]:
    """Consecutive (start, end) percent spans, in the order given, scaled to end at 100."""
    whole, at, spans = sum(weights.values()), 0.0, {}
    for step, weight in weights.items():
        spans[step] = (round(at, 3), round(at + 100 * weight / whole, 3))
        at = spans[step][1]
    return spans


#: overall-percent span of each diarization step (pyannote's hook names plus ours)
STEP_SPANS = {**spans_from_weights(STEP_WEIGHTS), "done": (100.0, 100.0)}
STEP_SPANS["discrete_diarization"] = STEP_SPANS["clustering"]


def _until_written(progress):
    """``progress`` without the diarization's own "done": the job is done once its files are written."""
    if progress is None:
        return None
    return lambda step, completed, total: None if step == "done" else progress(step, completed, total)


def diarize_file(audio_path: str, *, num_speakers=None, min_speakers=None, max_speakers=None, backend=None,
                 progress=None, out_dir: Path | None = None, task_id: str | None = None, roots=None,
                 source_name: str | None = None, identify_for: str | None = None) -> dict:
    """Diarize one file and write ``<stem>.rttm`` and ``<stem>.json``; shared by the task and ``--local``.
    With ``identify_for`` (a user), speakers are named after that user's voiceprints.

    The stem (and the RTTM uri) comes from ``source_name``, the user's own file name, when given, else
    from ``audio_path`` (an upload's stored name)."""
    from echonote.worker import diarize_core
    from echonote.worker.backends import model_loads

    cfg = config.load()
    backend = backend or cfg.diarization_backend
    try:
        result = diarize_core.run_diarization(
            audio_path, num_speakers=num_speakers, min_speakers=min_speakers, max_speakers=max_speakers,
            backend=backend, backend_options=diarization_options(backend, cfg), progress=_until_written(progress),
            roots=roots or cfg.audio_roots,
            limits={"max_duration": cfg.max_audio_seconds, "max_bytes": cfg.max_audio_bytes},
            identify_for=identify_for,
        )
    except BadInput:
        raise
    except ValueError as exc:  # AudioInputError and option errors: the user's to fix
        raise BadInput(str(exc)) from None
    out = out_dir or result_dir_for(task_id)
    stem = output_stem(source_name, audio_path)
    rttm_target, json_target = output_path(out, stem, ".rttm"), output_path(out, stem, ".json")
    # Each write is retried on its own (outputs.ResultWriteError after a few tries): a full
    # disk must not re-run the whole diarization.
    if progress:
        progress("write", 0, 1)
    rttm = write_rttm(result, rttm_target, uri=stem)
    stored = store_uris(out, rttm_uri=rttm, result_uri=json_target)  # where they go in the store, if one is set
    result.update(result_path=str(json_target), rttm_path=str(rttm), worker_pid=os.getpid(),
                  model_loads=model_loads(), **stored)
    write_json(result, json_target)
    copy_to_store(stored, {"rttm_uri": rttm, "result_uri": json_target})
    if progress:
        progress("write", 1, 1)
        progress("done", 1, 1)
    return result


@app.task(name=names.DIARIZE, base=EchonoteTask, **JOB_TASK_OPTIONS)
def diarize(self, audio_path: str, num_speakers=None, min_speakers=None, max_speakers=None, backend=None,
            job_id=None, source_name=None, identify=False) -> dict:
    """Diarize ``audio_path`` (a path under the data/upload roots, never the bytes); outputs are named
    after ``source_name``, the user's original file name, when the client sends it. With ``identify``,
    speakers are named after the voiceprints of the job's user."""
    if not isinstance(audio_path, str) or not audio_path:
        raise BadInput(f"audio_path must be a non-empty string path, got {audio_path!r}")
    out_dir = result_dir_for(self.request.id)  # refuse a hostile task id before any work is done
    job_id = job_id or jobs.job_id_of(self)
    reporter = ProgressReporter(self, job_id, STEP_SPANS)
    return diarize_file(audio_path, num_speakers=num_speakers, min_speakers=min_speakers, max_speakers=max_speakers,
                        backend=backend, progress=reporter, out_dir=out_dir, source_name=source_name,
                        identify_for=owner_of(self) if identify else None)
