"""Every job row reaches a final state with a reason, through the real worker and janitor.

A failed canvas part closes the canvas's row at once (the chord's error callback); the janitor
closes rows whose message is gone and never requeues a job whose worker process still answers;
a jobs database deleted under running processes is detected instead of written blindly.
"""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import redis.exceptions
from sqlalchemy import update
from support.cli_runs import run_cli
from support.job_rows import usage, wait_for

from echonote import client, config, db, names
from echonote.client import canvas
from echonote.ops import monitor


def run_janitor(**kwargs) -> dict:
    return client.wait(client.send_by_name(names.REQUEUE_STRANDED, kwargs=kwargs).id, timeout=60)


def test_a_failed_canvas_part_closes_the_canvas_row_and_keeps_a_bad_inputs_charge(stack):
    """A text file renamed .wav: diarize and transcribe fail, attribute never runs; the canvas's row
    stayed "queued" for ever with no error. The input was the user's to fix, so, as for a single job,
    the 30 s charge stands (a part failing for the system's reason is refunded: test_refunds.py)."""
    notes = config.load().path("data_dir") / "final-rows" / "notes.wav"
    notes.parent.mkdir(parents=True, exist_ok=True)
    notes.write_text("minutes of the meeting, not audio\n" * 40)
    db.set_quota("canvasfail", 1000)
    db.reset_daily_quotas()
    job, parts = canvas.submit_transcript(str(notes), audio_seconds=30, user="canvasfail")
    assert usage("canvasfail") == 30
    with pytest.raises(Exception) as failure:
        client.wait(job.task_id, timeout=120)
    assert "ChordError" in type(failure.value).__name__ or "Dependency" in str(failure.value)
    row = wait_for(lambda: (r := db.get_job(job.id)).status in db.FINISHED_STATES and r, 30, "the row is final")
    assert row.status == db.FAILED and row.finished_at is not None
    assert row.error.startswith("a part of the workflow failed: BadInput") and "notes.wav" in row.error
    assert "charge stands" in row.error and "refunded" not in row.error
    assert usage("canvasfail") == 30


def test_janitor_closes_rows_whose_message_is_gone(stack):
    """A queued row with no message (lost by the broker) and a row "started" by a dead worker whose message is
    gone were reported as stranded every minute and never closed. A row whose message waits in a queue is kept;
    one whose task stored a result gets that outcome. The dead worker ran on another machine with the same main
    pid as the live one (containers often share pids): that pid answering here does not make it alive."""
    db.set_quota("orphans", 1000)
    db.reset_daily_quotas()
    live_main_pid = psutil.Process(client.wait(client.send_by_name(names.PING).id, timeout=30)["pid"]).ppid()
    lost = client.submit(names.PING, user="orphans", audio_seconds=10, sender=lambda *args, **kwargs: None)
    dead = client.submit(names.PING, user="orphans", audio_seconds=20, sender=lambda *args, **kwargs: None)
    assert db.mark_started(dead.id, f"worker@another-machine:{live_main_pid}:1")
    with db.session() as s:
        s.execute(update(db.Job).where(db.Job.id == dead.id).values(started_at=db.utcnow() - dt.timedelta(minutes=5)))
    waiting = client.submit(names.PING, user="orphans", audio_seconds=5, queue="nobody-consumes-this")

    def send_without_job_header(name, kwargs, task_id, headers, **options):
        return client.send_by_name(name, kwargs=kwargs, task_id=task_id)

    ran = client.submit(names.PING, user="orphans", audio_seconds=1, sender=send_without_job_header)
    client.wait(ran.task_id, timeout=30)
    assert db.get_job(ran.id).status == db.QUEUED, "the worker could not see this row"
    time.sleep(1.5)

    report = run_janitor(orphan_after=1)

    assert report["stranded"] == 1 and report["requeued"] == [], report
    for job in (lost, dead):
        row = db.get_job(job.id)
        assert row.status == db.FAILED and row.error.startswith("lost:") and row.audio_seconds == 0, row.as_dict()
        assert job.id in report["closed"]
    assert db.get_job(waiting.id).status == db.QUEUED and waiting.id not in report["closed"]
    assert db.get_job(ran.id).status == db.SUCCEEDED
    assert usage("orphans") == 5 + 1, "the lost rows are refunded, the others keep their charge"
    assert run_janitor(orphan_after=1)["closed"] == {}, "a second pass finds nothing left to close"


def test_janitor_never_requeues_a_job_whose_worker_process_answers(stack):
    """The janitor kept one pid per node name: a job recorded under another name of a live worker process (two
    workers started as worker@host, or a renamed node) looked dead, was requeued while running, and ran twice."""
    job = client.submit(names.PING, {"sleep": 8}, user="alive", audio_seconds=0)
    row = wait_for(lambda: (r := db.get_job(job.id)).status == db.STARTED and r, 30, "the job starts")
    node, main_pid, pool_pid = row.worker.split(":")
    other_name = f"renamed-{node.partition('@')[0]}@{node.partition('@')[2]}"
    with db.session() as s:
        s.execute(update(db.Job).where(db.Job.id == job.id).values(
            worker=f"{other_name}:{main_pid}:{pool_pid}", started_at=db.utcnow() - dt.timedelta(minutes=5)))
    report = run_janitor()
    assert job.task_id not in report["requeued"] and report["stranded"] == 0, report
    client.wait(job.task_id, timeout=60)
    time.sleep(2)
    final = db.get_job(job.id)
    assert final.status == db.SUCCEEDED and final.attempts == 1, final.as_dict()


def test_janitor_survives_the_broker_closing_its_connections(stack):
    """Redis restarted under a running worker: the janitor's next run
    raised ``ConnectionError: Connection closed by server`` from its pooled connection and did nothing that
    minute. It now retries once on a fresh connection and closes what it should."""
    db.set_quota("dropped", 1000)
    db.reset_daily_quotas()

    def lost_row():  # a row whose message never reached the broker: the janitor must read the broker to close it
        return client.submit(names.PING, user="dropped", audio_seconds=1, sender=lambda *args, **kwargs: None)

    first = lost_row()
    assert first.id in run_janitor(orphan_after=0)["closed"]  # the worker's pool now holds broker connections
    assert monitor.workers(timeout=5.0)  # and so does this process's (a broadcast)
    stack.stop("redis")  # as test_reliability's restart drill does: every pooled connection is now dead
    before = os.umask(0o022)
    try:
        stack.start_redis()
        assert os.umask(0o022) == 0o022, "starting a role changed this process's umask"
    finally:
        os.umask(before)
    umask = next(line for line in Path(f"/proc/{stack.process('redis').pid}/status").read_text().splitlines()
                 if line.startswith("Umask:"))
    assert umask.split()[1] == "0077", umask  # the role's own files are private
    assert client.wait(client.send_by_name(names.PING).id, timeout=120)["pid"], "the worker reconnects"
    # the process that restarted the broker dropped its own pooled connections: a later test's broadcast
    # from it failed with "Connection closed by server"
    assert monitor.workers(timeout=5.0), "no worker answered a broadcast after the restart"
    second = lost_row()
    report = run_janitor(orphan_after=0)
    assert second.id in report["closed"], report
    assert db.get_job(second.id).status == db.FAILED


def test_the_janitors_retry_leaves_the_broker_pool_usable(stack, monkeypatch):
    """The retry emptied the process's broker pool with kombu's ``force_close_all()``, which also marks the
    pool closed for good: every later broadcast, chord callback and publish from that pool process failed
    with ``RuntimeError: Acquire on closed pool`` (five failures in one CI run). The dropped connection is
    simulated here (redis-py reconnects by itself after a real restart, so nothing else reaches this path on
    demand); the pool, the broker and the worker answering the broadcast are real."""
    from echonote.worker import janitor

    real, calls = janitor._janitor_run, []

    def dropped_once(orphan_after):
        calls.append(orphan_after)
        if len(calls) == 1:
            raise redis.exceptions.ConnectionError("Connection closed by server.")
        return real(orphan_after)

    monkeypatch.setattr(janitor, "_janitor_run", dropped_once)
    report = janitor.requeue_stranded.run(orphan_after=3600)
    assert len(calls) == 2 and report["requeued"] == [], (calls, report)
    with janitor.app.pool.acquire(block=True, timeout=5) as conn:
        assert conn.default_channel.client.ping()
    assert janitor.live_workers(timeout=5.0), "a broadcast through the pool reached no worker"

    def dropped_again(orphan_after):
        calls.append(orphan_after)
        raise redis.exceptions.ConnectionError("Connection closed by server.")

    calls.clear()
    monkeypatch.setattr(janitor, "_janitor_run", dropped_again)
    with pytest.raises(redis.exceptions.ConnectionError):  # a second failure is raised, not tried a third time
        janitor.requeue_stranded.run(orphan_after=3600)
    assert len(calls) == 2, calls


DELETED_DB_PROBE = """
import sys
from echonote import db
try:
    db.list_users(sys.argv[1])
except db.DatabaseFileReplaced as exc:
    print("refused:", exc)
else:
    print("opened")
"""


def test_a_database_deleted_under_running_processes_is_detected(tmp_path):
    """Deleting the SQLite file under a running stack left its processes writing jobs into the deleted file,
    and a new process opening the path next to the old -wal file got "disk I/O error"."""
    path = tmp_path / "jobs.db"
    url = f"sqlite:///{path}"
    db.set_quota("before", 10, url=url)  # this process now holds the file open, as a worker does
    try:
        os.remove(path)
        with pytest.raises(db.DatabaseFileReplaced, match="was deleted") as refused:
            db.set_quota("after", 10, url=url)
        assert "echonote down" in str(refused.value)
        probe = subprocess.run([sys.executable, "-c", DELETED_DB_PROBE, url], capture_output=True, text=True,
                               timeout=60)
        assert probe.stdout.startswith("refused:") and "-wal" in probe.stdout, probe.stdout + probe.stderr
        cli = run_cli("quota", "show", env=dict(os.environ, ECHONOTE_DATABASE_URL=url))
        assert cli.returncode == 1 and "was deleted" in cli.stderr and "Traceback" not in cli.stderr, cli.stderr
    finally:
        db._engine_for(url)[0].dispose()
