"""Keep job rows in step with the tasks that run them: :func:`start` at the top of every run,
outcomes from the task itself, and Celery's task signals for what the task cannot see.

A task sent by :func:`echonote.client.submit` carries the job id in a message
header; tasks sent any other way have none and are left alone.

Who pays for a failure: a job that fails because of its input (:class:`~echonote.errors.BadInput`:
unreadable, silent or too long audio, bad options, over quota) keeps its charge; any other failure
(the worker died too often, out of memory, a time limit, a result that could not be written, a bug)
is refunded. Every state change goes through :mod:`echonote.db`'s transitions: only the first of the
task, the failure signal, the janitor and a canvas's error callback closes a job (a final row is never
rewritten), and the refund goes with that one close, so the user is refunded once.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from billiard.exceptions import TimeLimitExceeded
from celery import signals

from echonote import config, db
from echonote.errors import BadInput
from echonote.names import JOB_HEADER


def job_id_of(task) -> str | None:
    request = getattr(task, "request", None)
    if request is None:
        return None
    value = getattr(request, JOB_HEADER, None)
    if value is None and isinstance(getattr(request, "headers", None), dict):
        value = request.headers.get(JOB_HEADER)
    return value


def users_fault(exception: BaseException | None) -> bool:
    """True for a failure the user caused (the job keeps its charge); any other failure is refunded."""
    return isinstance(exception, BadInput)


def close_failed(job_id: str, message: str, exception: BaseException | None) -> bool:
    """Mark the job failed with ``message``, refunding its charge unless the failure was the user's;
    False when the row was already final (its outcome stands)."""
    return db.mark_failed(job_id, message, refund=not users_fault(exception))


def update_job(job_id: str, **fields) -> None:
    """Write other fields of a job's row (progress); its state changes only through :mod:`echonote.db`'s transitions."""
    if "status" in fields:
        raise ValueError("a job's status changes only through echonote.db's transitions (mark_started, ...)")
    with db.session() as s:
        job = s.get(db.Job, job_id)
        if job is None:
            return
        for key, value in fields.items():
            setattr(job, key, value)


class WorkerDiedRepeatedly(RuntimeError):
    """The job's worker process died on every delivery (OOM killer, kill -9): it is not run again."""


@dataclass(frozen=True)
class FinalRow:
    """The job's row was already final when its message arrived: the run is skipped."""

    job_id: str
    status: str
    error: str | None
    result_path: str | None


def deaths_before(job: db.Job, retries: int) -> int:
    """Runs of this job that ended without an outcome (the worker process died under them).

    Every run that starts adds one to ``attempts``; a Celery retry sends a new message with
    ``retries`` + 1, whereas a message redelivered after its worker died (requeued by Celery,
    restored by the janitor or by Redis's visibility timeout) comes back unchanged. So the
    starts this message's ``retries`` does not account for are deaths.
    """
    return max(0, (job.attempts or 0) - (retries or 0))


def died_too_often(died: int) -> WorkerDiedRepeatedly:
    return WorkerDiedRepeatedly(
        f"worker died {died} times while running this job (each time its pool process was killed, "
        "most often by the out-of-memory killer); it is not run again. Split the audio into shorter "
        "files or give the worker more memory (fewer ECHONOTE_WORKER_CONCURRENCY processes); "
        "ECHONOTE_MAX_DELIVERIES sets how many runs a job gets."
    )


def message_runs(task) -> int | None:
    """Runs of this message so far, this one included, counted in the result backend's Redis (for
    tasks without a job row, such as a canvas's parts); None where that backend is not Redis."""
    client = getattr(task.backend, "client", None)
    if client is None or not hasattr(client, "pipeline"):
        return None
    key = f"echonote-runs-{task.request.id}-{task.request.retries or 0}"
    try:
        with client.pipeline() as pipe:
            runs, _ = pipe.incr(key).expire(key, 2 * config.load().visibility_timeout).execute()
    except Exception:  # best effort: a hiccup in counting must not stop a job
        return None
    return int(runs)


def start(task) -> FinalRow | WorkerDiedRepeatedly | None:
    """Mark the task's job started, in one transaction with the checks that may stop it.

    Returns ``None`` to run the task, a :class:`FinalRow` when the row is already succeeded,
    failed or revoked (a redelivered message must never run a finished job again), or a
    :class:`WorkerDiedRepeatedly` to raise when the job's worker died ``ECHONOTE_MAX_DELIVERIES``
    times (the row is then failed here). A task without a job row has its runs counted in Redis.
    """
    cap = max(1, config.load().max_deliveries)
    job_id = job_id_of(task)
    if not job_id:
        runs = message_runs(task)
        return died_too_often(runs - 1) if runs is not None and runs > cap else None
    with db.session() as s:
        job = db.locked_job(s, job_id)  # nothing else changes the row until this transaction ends
        if job is None:
            return None
        if job.status in db.FINISHED_STATES:
            return FinalRow(job.id, job.status, job.error, job.result_path)
        died = deaths_before(job, task.request.retries)
        if died >= cap:
            error = died_too_often(died)
            db.mark_failed(job.id, f"{type(error).__name__}: {error}", tx=s)  # the worker's failure: refunded
            return error
        # node:main pid:pool pid; the janitor compares the main pid with what the node answers
        db.mark_started(job.id, f"{task.request.hostname}:{os.getppid()}:{os.getpid()}", tx=s)
    return None


def record_success(task, result) -> None:
    """Mark the task's job succeeded. Called inside the task, so the row is final before the result is visible."""
    job_id = job_id_of(task)
    if job_id:
        db.mark_succeeded(job_id, result.get("result_path") if isinstance(result, dict) else None)


def record_failure(task, exception: BaseException) -> None:
    """Mark the task's job failed with a readable error (inside the task, before the result is stored),
    refunded unless the failure was the user's."""
    job_id = job_id_of(task)
    if job_id:
        close_failed(job_id, f"{type(exception).__name__}: {exception}", exception)


@signals.task_failure.connect
def _failed(sender=None, task_id=None, exception=None, **_):
    # Failures inside a task are recorded by EchonoteTask before its result is stored; this
    # catches the rest, above all a hard time limit, which the worker's main process reports
    # where the task has no request context: the task id equals the job id (see submit()).
    # A row already final is left as it is (db.mark_failed refuses it): the hard-limit verdict
    # stands, a dying child's last words don't replace it.
    job_id = job_id_of(sender) or task_id
    if not job_id:
        return
    if isinstance(exception, TimeLimitExceeded):
        limit = exception.args[0] if exception.args else "?"
        message = (f"TimeLimitExceeded: hard time limit of {limit} s reached; the pool process was replaced. "
                   "Split the audio, or raise ECHONOTE_HARD_TIME_LIMIT (and ECHONOTE_VISIBILITY_TIMEOUT above it).")
    else:
        message = f"{type(exception).__name__}: {exception}"
    close_failed(job_id, message, exception)


@signals.task_revoked.connect
def _revoked(sender=None, request=None, **_):
    job_id = getattr(request, JOB_HEADER, None) if request is not None else None
    if job_id:
        db.mark_revoked(job_id)
