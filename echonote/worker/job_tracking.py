"""Keep job rows in step with the tasks that run them, through Celery's task signals.

A task sent by :func:`echonote.client.submit` carries the job id in a message
header; tasks sent any other way have none and are left alone.
"""
from __future__ import annotations

import os

from billiard.exceptions import TimeLimitExceeded
from celery import signals

from echonote import db
from echonote.client import JOB_HEADER


def job_id_of(task) -> str | None:
    request = getattr(task, "request", None)
    if request is None:
        return None
    value = getattr(request, JOB_HEADER, None)
    if value is None and isinstance(getattr(request, "headers", None), dict):
        value = request.headers.get(JOB_HEADER)
    return value


def update_job(job_id: str, **fields) -> None:
    with db.session() as s:
        job = s.get(db.Job, job_id)
        if job is None:
            return
        for key, value in fields.items():
            setattr(job, key, value)


@signals.task_prerun.connect
def _started(sender=None, task_id=None, task=None, **_):
    job_id = job_id_of(task)
    if not job_id:
        return
    with db.session() as s:
        job = s.get(db.Job, job_id)
        if job is not None:
            job.status, job.started_at, job.error = db.STARTED, db.utcnow(), None
            # node:main pid:pool pid; the janitor compares the main pid with what the node answers
            job.worker = f"{task.request.hostname}:{os.getppid()}:{os.getpid()}"
            job.attempts = (job.attempts or 0) + 1


def record_success(task, result) -> None:
    """Mark the task's job succeeded. Called inside the task, so the row is final before the result is visible."""
    job_id = job_id_of(task)
    if job_id:
        fields = {"status": db.SUCCEEDED, "progress": 100.0, "finished_at": db.utcnow(), "error": None}
        if isinstance(result, dict) and result.get("result_path"):
            fields["result_path"] = result["result_path"]
        update_job(job_id, **fields)


def record_failure(task, exception: BaseException) -> None:
    """Mark the task's job failed with a readable error (inside the task, before the result is stored)."""
    job_id = job_id_of(task)
    if job_id:
        update_job(job_id, status=db.FAILED, error=f"{type(exception).__name__}: {exception}", finished_at=db.utcnow())


@signals.task_failure.connect
def _failed(sender=None, task_id=None, exception=None, **_):
    # Failures inside a task are recorded by EchonoteTask before its result is stored; this
    # catches the rest, above all a hard time limit, which the worker's main process reports
    # where the task has no request context: the task id equals the job id (see submit()).
    job_id = job_id_of(sender) or task_id
    if not job_id:
        return
    if isinstance(exception, TimeLimitExceeded):
        limit = exception.args[0] if exception.args else "?"
        message = (f"TimeLimitExceeded: hard time limit of {limit} s reached; the pool process was replaced. "
                   "Split the audio, or raise ECHONOTE_HARD_TIME_LIMIT (and ECHONOTE_VISIBILITY_TIMEOUT above it).")
    else:
        message = f"{type(exception).__name__}: {exception}"
    with db.session() as s:
        job = s.get(db.Job, job_id)
        if job is None or (job.error or "").startswith("TimeLimitExceeded"):
            return  # the hard-limit verdict stands; a dying child's last words don't replace it
        job.status, job.error, job.finished_at = db.FAILED, message, db.utcnow()


@signals.task_revoked.connect
def _revoked(sender=None, request=None, **_):
    job_id = getattr(request, JOB_HEADER, None) if request is not None else None
    if job_id:
        update_job(job_id, status=db.REVOKED, finished_at=db.utcnow())
