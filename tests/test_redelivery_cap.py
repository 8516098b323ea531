"""Jobs that run out of memory or whose worker process dies, through a real worker: a clean failure,
a bounded number of runs, and a finished job never run again (issue 10, item 6)."""
from __future__ import annotations

import os
import signal
import time

import pytest

from echonote import client, config, db, names
from echonote.ops.waiting import wait_until
from echonote.testing.chaos import rows

pytest.importorskip("numpy", reason="the worker extra is not installed")


def final_row(job_id: str, timeout: float) -> db.Job:
    return wait_until(lambda: (row := rows([job_id])[0]).status in db.FINISHED_STATES and row, timeout, 0.2,
                      f"job {job_id} final")


def test_a_memory_error_fails_the_job_and_the_worker_lives_on(stack):
    """A MemoryError in a pool process made Celery's main process exit ("Unrecoverable error")
    and the message come back; it must be a plain failure of that one job."""
    main_pid = stack.process("worker").pid
    job = client.submit(names.PING, {"drill": "memory"})
    with pytest.raises(Exception, match="ran out of memory"):
        client.wait(job.task_id, timeout=30)
    row = final_row(job.id, 10)
    assert row.status == db.FAILED and row.error.startswith("OutOfMemory: ") and row.attempts == 1, row.as_dict()
    assert "Split the audio" in row.error
    assert stack.worker_ping("worker", timeout=5) and stack.process("worker").pid == main_pid
    assert client.wait(client.submit(names.PING, {"payload": "after"}).task_id, timeout=30)["pong"] == "after"


def test_a_job_whose_worker_dies_every_time_runs_at_most_max_deliveries_times(stack):
    """A job whose pool process was SIGKILLed on every run (an OOM killer) was delivered 7 times in
    10 s with no end; after ECHONOTE_MAX_DELIVERIES runs it must fail with the reason."""
    cap = config.load().max_deliveries
    db.set_quota("dies-every-time", 1000)
    job = client.submit(names.PING, {"drill": "sigkill"}, user="dies-every-time", audio_seconds=60)
    row = final_row(job.id, 30 + 10 * cap)
    reason = f"worker died {cap} times while running this job"
    assert row.status == db.FAILED and reason in row.error, row.as_dict()
    assert row.audio_seconds == 0 and next(u.used_seconds_today for u in db.list_users()
                                           if u.name == "dies-every-time") == 0, "the system's failure is refunded"
    assert row.attempts == cap, f"{row.attempts} runs for a cap of {cap}"
    with pytest.raises(Exception, match=reason):
        client.wait(job.task_id, timeout=10)
    time.sleep(2)
    assert rows([job.id])[0].attempts == cap, "the job ran again after it failed"
    assert stack.worker_ping("worker", timeout=5)


def test_a_finished_job_is_not_run_again_when_its_message_comes_back(stack):
    """The job marked failed ran again on the next delivery of its message; a final row must stop it."""
    job = client.submit(names.PING, {"payload": "must not run", "sleep": 30})
    running = wait_until(lambda: (row := rows([job.id])[0]).status == db.STARTED and row.worker and row, 30, 0.1,
                         "the job running")
    # what a run that recorded its failure and then lost its process leaves behind
    assert db.mark_failed(job.id, "RuntimeError: first run failed", refund=False)
    os.kill(int(running.worker.rsplit(":", 1)[1]), signal.SIGKILL)  # Celery requeues the message at once
    with pytest.raises(Exception, match="was already failed .*first run failed.* not run a second time"):
        client.wait(job.task_id, timeout=20)
    row = rows([job.id])[0]
    assert (row.status, row.error, row.attempts) == (db.FAILED, "RuntimeError: first run failed", 1), row.as_dict()
    assert "is not run again" in stack.log_since_start("worker")
    assert stack.worker_ping("worker", timeout=5)


def test_a_task_without_a_job_row_is_capped_too(stack):
    """A canvas's parts (and anything sent by name) have no job row: their runs are counted in Redis."""
    cap = config.load().max_deliveries
    sent = client.celery_app().send_task(names.PING, kwargs={"drill": "sigkill"})
    with pytest.raises(Exception, match=f"worker died {cap} times while running this job"):
        client.wait(sent.id, timeout=30 + 10 * cap)
    assert stack.log_since_start("worker").count(f"{names.PING}[{sent.id}] received") == cap + 1
    assert stack.worker_ping("worker", timeout=5)
