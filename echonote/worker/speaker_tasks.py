"""``echonote.enroll_speaker`` (store a named voiceprint) and ``echonote.identify_speakers`` (name the
speakers of a diarization result): the tasks behind ``echonote speakers`` and ``--identify``.

Whose voiceprints: the user of the job row the message belongs to (its job or charge header); a
message sent without a job may name ``user``, else the configured user is taken.
"""
from __future__ import annotations

from pathlib import Path

from echonote import config, names
from echonote.celery_app import app
from echonote.errors import BadInput
from echonote.worker import jobs
from echonote.worker.base_task import JOB_TASK_OPTIONS, EchonoteTask
from echonote.worker.outputs import copy_to_store, output_path, result_dir_for, store_uris, write_json, write_rttm
from echonote.worker.progress import ProgressReporter

STEP_SPANS = {"decode": (0.0, 10.0), "embed": (10.0, 95.0), "identify": (10.0, 95.0), "write": (95.0, 100.0),
              "done": (100.0, 100.0)}


def owner_of(task, user: str | None = None) -> str:
    """The user whose voiceprints ``task`` reads or writes: its job row's owner, else ``user``, else the
    configured user (ECHONOTE_USER, or the login name)."""
    import getpass

    from echonote import db

    request = task.request
    headers = getattr(request, "headers", None) or {}
    job_id = jobs.job_id_of(task) or getattr(request, names.CHARGE_HEADER, None) or headers.get(names.CHARGE_HEADER)
    owner = db.job_owner(str(job_id)) if job_id else None
    return owner or user or config.load().user or getpass.getuser()


def enroll_file(name: str, clips: list[dict], user: str, *, roots=None, progress=None) -> dict:
    """Enrol ``user``'s voice ``name`` from ``clips``; shared by the task and ``echonote speakers enroll --local``."""
    from echonote.worker.voiceprints import enroll

    cfg = config.load()
    return enroll(name, clips, user, roots=roots or cfg.audio_roots, progress=progress,
                  limits={"max_duration": cfg.max_audio_seconds, "max_bytes": cfg.max_audio_bytes})


@app.task(name=names.ENROLL_SPEAKER, base=EchonoteTask, **JOB_TASK_OPTIONS)
def enroll_speaker(self, name: str, clips: list, user: str | None = None, job_id=None) -> dict:
    """Compute the voiceprint of ``name`` from ``clips`` (``[{"audio_path", "start", "end"}]``, paths under
    the data roots) and store it for the job's user; a name enrolled before is replaced."""
    reporter = ProgressReporter(self, job_id or jobs.job_id_of(self), STEP_SPANS)
    return enroll_file(name, clips, owner_of(self, user), progress=reporter)


def identify_result(diarization: dict, user: str, *, roots=None, out_dir: Path | None = None) -> dict:
    """Name the speakers of a finished diarization result (its audio decoded again) and write its RTTM and
    JSON anew into ``out_dir``."""
    from echonote.worker.inputs import Limits, decode_any
    from echonote.worker.voiceprints import apply_identification

    audio = diarization.get("audio") if isinstance(diarization, dict) else None
    if "segments" not in (diarization or {}) or not isinstance(audio, dict) or not isinstance(audio.get("path"), str):
        raise BadInput("identify_speakers takes the result of echonote.diarize (a dict with segments and audio); "
                       f"got {type(diarization).__name__}. Chain it after diarize: diarize | identify_speakers.")
    cfg = config.load()
    try:
        decoded = decode_any(audio["path"], roots or cfg.audio_roots,  # a path or the store's URI, as diarize had it
                             Limits(max_duration=cfg.max_audio_seconds, max_bytes=cfg.max_audio_bytes))
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    result = apply_identification(diarization, decoded.waveform, user)
    stem = Path(diarization.get("rttm_path") or str(decoded.path)).stem
    rttm = write_rttm(result, output_path(out_dir, stem, ".rttm"), uri=stem)
    target = output_path(out_dir, stem, ".json")
    stored = store_uris(out_dir, rttm_uri=rttm, result_uri=target)  # the renamed files go to the store too
    result.update(rttm_path=str(rttm), result_path=str(target), **stored)
    write_json(result, target)
    copy_to_store(stored, {"rttm_uri": rttm, "result_uri": target})
    return result


@app.task(name=names.IDENTIFY_SPEAKERS, base=EchonoteTask, **JOB_TASK_OPTIONS)
def identify_speakers(self, diarization: dict, user: str | None = None) -> dict:
    """``diarization`` (the result of ``echonote.diarize``, e.g. the previous task of a chain) with its
    speakers named after the user's voiceprints; writes the renamed RTTM and JSON."""
    out_dir = result_dir_for(self.request.id)
    reporter = ProgressReporter(self, jobs.job_id_of(self), STEP_SPANS)
    reporter("identify", 0, 1)
    result = identify_result(diarization, owner_of(self, user), out_dir=out_dir)
    reporter("done", 1, 1)
    return result
