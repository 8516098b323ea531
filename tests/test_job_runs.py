"""The worker's job plumbing (``echonote.worker.jobs``) moves rows only through ``db``'s transitions.

Called as a task and Celery's signals call it, on a real SQLite database, without a worker: a redelivered
message of a final job is not run, the delivery cap fails and refunds the job once, a hard time limit's
verdict survives what the dying process reports later, and a revoke never rewrites a finished job.
"""
from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from billiard.exceptions import TimeLimitExceeded, WorkerLostError

from echonote import db
from echonote.errors import BadInput
from echonote.names import JOB_HEADER
from echonote.worker import jobs

CHARGE = 40.0


@pytest.fixture
def url(tmp_path, monkeypatch):
    """A database of this test's own, the one the worker code opens."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    monkeypatch.setenv("ECHONOTE_DATABASE_URL", url)
    monkeypatch.setenv("ECHONOTE_MAX_DELIVERIES", "2")
    return url


def submitted(url: str, user: str = "runner") -> str:
    """A queued job charged :data:`CHARGE`, as the client's submit leaves it."""
    db.set_quota(user, 1000, url=url)
    with db.session(url) as s:
        owner = db.charge(s, user, CHARGE)
        job_id = str(uuid.uuid4())
        s.add(db.Job(id=job_id, task_id=job_id, user_id=owner.id, kind="test", audio_seconds=CHARGE))
    return job_id


def task_for(job_id: str, retries: int = 0) -> SimpleNamespace:
    """What ``jobs`` reads of a running task: the job header and the delivery's retries."""
    return SimpleNamespace(request=SimpleNamespace(id=job_id, headers={JOB_HEADER: job_id}, retries=retries,
                                                   hostname="worker@test"))


def usage(url: str, user: str = "runner") -> float:
    return next(u.used_seconds_today for u in db.list_users(url) if u.name == user)


def test_a_run_starts_and_succeeds(url):
    job_id = submitted(url)
    assert jobs.start(task_for(job_id)) is None
    row = db.get_job(job_id, url)
    assert (row.status, row.attempts) == (db.STARTED, 1) and row.worker.startswith("worker@test:")
    jobs.record_success(task_for(job_id), {"result_path": "/results/r1"})
    row = db.get_job(job_id, url)
    assert (row.status, row.result_path, row.progress) == (db.SUCCEEDED, "/results/r1", 100.0)


@pytest.mark.parametrize("close", ["succeeded", "failed", "revoked"])
def test_a_redelivered_message_of_a_final_job_is_not_run(url, close):
    job_id = submitted(url)
    assert jobs.start(task_for(job_id)) is None
    {"succeeded": lambda: jobs.record_success(task_for(job_id), {}),
     "failed": lambda: jobs.record_failure(task_for(job_id), RuntimeError("first run failed")),
     "revoked": lambda: jobs._revoked(request=SimpleNamespace(**{JOB_HEADER: job_id}))}[close]()
    final = db.get_job(job_id, url).as_dict()
    verdict = jobs.start(task_for(job_id))
    assert isinstance(verdict, jobs.FinalRow) and verdict.status == close
    assert db.get_job(job_id, url).as_dict() == final, "the row of a finished job changed when its message came back"


def test_a_job_whose_worker_died_every_time_fails_at_the_cap_and_is_refunded(url):
    job_id = submitted(url)
    assert jobs.start(task_for(job_id)) is None
    assert jobs.start(task_for(job_id)) is None, "the first death: run again"
    assert db.get_job(job_id, url).attempts == 2
    verdict = jobs.start(task_for(job_id))
    assert isinstance(verdict, jobs.WorkerDiedRepeatedly)
    row = db.get_job(job_id, url)
    assert row.status == db.FAILED and "worker died 2 times" in row.error and row.attempts == 2
    assert usage(url) == 0 and row.audio_seconds == 0
    assert isinstance(jobs.start(task_for(job_id)), jobs.FinalRow)


def test_a_hard_limits_verdict_stands_against_later_reports(url):
    """The main process reports the hard limit (no request context: the task id is the job id); the pool
    process's death and any late success must not replace it, nor refund twice."""
    job_id = submitted(url)
    assert jobs.start(task_for(job_id)) is None
    jobs._failed(sender=None, task_id=job_id, exception=TimeLimitExceeded(2))
    row = db.get_job(job_id, url).as_dict()
    assert row["status"] == db.FAILED and row["error"].startswith("TimeLimitExceeded: hard time limit of 2 s")
    jobs._failed(sender=None, task_id=job_id, exception=WorkerLostError("Worker exited prematurely: signal 9"))
    jobs.record_success(task_for(job_id), {"result_path": "/results/late"})
    jobs._revoked(request=SimpleNamespace(**{JOB_HEADER: job_id}))
    assert db.get_job(job_id, url).as_dict() == row
    assert usage(url) == 0


def test_a_bad_input_keeps_its_charge_when_the_failure_signal_follows(url):
    job_id = submitted(url)
    assert jobs.start(task_for(job_id)) is None
    error = BadInput("not audio")
    jobs.record_failure(task_for(job_id), error)
    jobs._failed(sender=task_for(job_id), task_id=job_id, exception=error)
    row = db.get_job(job_id, url)
    assert row.status == db.FAILED and row.error == "BadInput: not audio" and usage(url) == CHARGE


def test_progress_is_written_but_a_state_is_not(url):
    job_id = submitted(url)
    jobs.update_job(job_id, progress=42.0)
    assert db.get_job(job_id, url).progress == 42.0
    with pytest.raises(ValueError, match="transitions"):
        jobs.update_job(job_id, status=db.SUCCEEDED)
    assert db.get_job(job_id, url).status == db.QUEUED


def test_a_revoke_after_the_job_finished_leaves_its_outcome(url):
    """Revoking a job that already succeeded (the panel's cancel came late) rewrote the row as revoked."""
    job_id = submitted(url)
    assert jobs.start(task_for(job_id)) is None
    jobs.record_success(task_for(job_id), {"result_path": "/results/done"})
    jobs._revoked(request=SimpleNamespace(**{JOB_HEADER: job_id}))
    row = db.get_job(job_id, url)
    assert (row.status, row.result_path) == (db.SUCCEEDED, "/results/done")
