"""Submitting by name through a real worker: job rows, quotas, the reset task beat schedules."""
from __future__ import annotations

import redis

from echonote import client, config, db, names


def queue_length(queue: str) -> int:
    r = redis.Redis.from_url(config.load().effective_broker_url)
    try:
        return r.llen(queue)
    finally:
        r.close()


def test_submit_creates_a_job_that_the_worker_completes(stack):
    job = client.submit(names.PING, {"payload": "hi"}, user="ada", audio_seconds=10)
    assert client.wait(job.task_id, timeout=30)["pong"] == "hi"
    row = db.get_job(job.id)
    assert row.status == db.SUCCEEDED and row.attempts == 1 and row.started_at and row.finished_at
    assert row.task_id == job.task_id and row.kind == names.PING


def test_over_quota_is_refused_and_sends_nothing(stack):
    db.set_quota("bob", 30)
    client.submit(names.PING, user="bob", audio_seconds=20)
    before_jobs = len(db.recent_jobs(1000))
    before_queue = queue_length("default")
    try:
        client.submit(names.PING, user="bob", audio_seconds=20)
    except client.QuotaExceeded as exc:
        message = str(exc)
    else:
        raise AssertionError("a job over quota was accepted")
    assert "10 s of daily quota left" in message and "echonote quota set bob" in message
    assert len(db.recent_jobs(1000)) == before_jobs
    assert queue_length("default") <= before_queue


def test_reset_daily_quotas_by_name_is_idempotent(stack):
    client.submit(names.PING, user="cy", audio_seconds=15)
    client.submit(names.PING, user="di", audio_seconds=5)
    changed = client.wait(client.send_by_name(names.RESET_DAILY_QUOTAS).id, timeout=30)
    assert changed >= 2
    assert all(u.used_seconds_today == 0 for u in db.list_users())
    assert client.wait(client.send_by_name(names.RESET_DAILY_QUOTAS).id, timeout=30) == 0
