"""Writers outside the worker move job rows through ``db``'s transitions, against a real stack: a submit whose
send fails leaves a failed, refunded row; the panel's Cancel revokes a running job (the row says revoked and
stays so) and a Cancel that comes after the job finished leaves its outcome."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from celery.exceptions import TaskRevokedError
from support.job_rows import final_row, usage, wait_for

from echonote import client, db, names


def test_a_submit_whose_send_fails_leaves_a_failed_refunded_row(stack):
    db.set_quota("unsent", 1000)
    db.reset_daily_quotas()

    def broken_send(*args, **kwargs):
        raise ConnectionError("the broker went away mid-send")

    with pytest.raises(ConnectionError):
        client.submit(names.PING, user="unsent", audio_seconds=25, sender=broken_send)
    [(row, _)] = db.find_jobs(user="unsent", limit=5)
    assert row.status == db.FAILED and row.error == "not sent: the broker went away mid-send", row.as_dict()
    assert row.audio_seconds == 0 and usage("unsent") == 0


def view_of(job: db.Job):
    from echonote.lab.panel import JobView

    return JobView(label=job.id[:8], audio=Path("cancelled.wav"), job_id=job.id, task_id=job.task_id,
                   status=SimpleNamespace(value="STARTED"))


def test_cancel_revokes_a_running_job_and_leaves_a_finished_one(stack):
    pytest.importorskip("ipywidgets")
    from echonote.lab.panel import SubmissionPanel

    panel = SubmissionPanel(poll_seconds=0.2)
    db.set_quota("canceller", 1000)
    running = client.submit(names.PING, {"sleep": 30}, user="canceller", audio_seconds=10)
    wait_for(lambda: db.get_job(running.id).status == db.STARTED, 30, "the job starts")
    view = view_of(running)
    panel.cancel(view)
    assert db.get_job(running.id).status == db.REVOKED and view.status.value == "REVOKED"
    with pytest.raises(TaskRevokedError):
        client.wait(running.task_id, timeout=30)
    row = final_row(running.id)
    assert row.status == db.REVOKED and row.finished_at is not None and row.audio_seconds == 10, row.as_dict()

    finished = client.submit(names.PING, {"payload": "done"}, user="canceller")
    client.wait(finished.task_id, timeout=30)
    panel.cancel(view_of(finished))
    assert final_row(finished.id).status == db.SUCCEEDED, "a late Cancel rewrote a finished job"
    assert client.wait(client.submit(names.PING, {"payload": "after"}).task_id, timeout=30)["pong"] == "after"
