"""What the real worker's log says: routine housekeeping is silent at INFO, a user's bad input is one
WARNING line, a bug keeps its traceback; and the janitor asks no worker anything when no job runs."""
from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading
import time

import pytest
import redis
from sqlalchemy import update
from support.job_rows import close_open_rows, run_by_name, wait_for

from echonote import client, config, db, names

pytest.importorskip("numpy", reason="the worker extra is not installed")


def _new_log(stack, since: int) -> str:
    return stack.log_since_start("worker")[since:]


class BrokerCommands:
    """Every command the private Redis receives while the block runs (Redis's own MONITOR)."""

    def __enter__(self):
        self.commands: list[str] = []
        self._stop = threading.Event()
        self._client = redis.Redis.from_url(config.load().effective_broker_url)
        self._monitor = self._client.monitor().__enter__()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return self

    def _read(self):
        # the broker is never idle (workers poll their queues every second), so next_command returns often
        while not self._stop.is_set():
            try:
                self.commands.append(self._monitor.next_command()["command"])
            except Exception:
                return

    def __exit__(self, *exc):
        time.sleep(1.5)  # replies and late commands
        self._stop.set()
        self._thread.join(timeout=5)
        self._monitor.__exit__(*exc)
        self._client.close()

    def broadcasts(self) -> list[str]:
        """Control broadcasts that ask the workers something (``inspect``: a PUBLISH on the pidbox channel).

        ``enable_events`` is left out: a Flower still running from another test of the session sends it
        every few seconds whatever the janitor does."""
        return [c for c in self.commands if c.upper().startswith("PUBLISH") and "pidbox" in c
                and _method(c) != "enable_events"]


def _method(command: str) -> str | None:
    """The control method a pidbox PUBLISH carries (its body is base64 JSON)."""
    match = re.search(r'"body": "([A-Za-z0-9+/=]+)"', command)
    try:
        return json.loads(base64.b64decode(match.group(1)))["method"] if match else None
    except (ValueError, KeyError, TypeError):
        return None


def test_an_idle_janitor_asks_no_worker_and_logs_nothing_at_info(stack):
    """requeue_stranded runs every minute; with nothing to do it broadcast `stats` to every worker and its
    "received"/"succeeded" lines filled the worker log (165 of the last 400 lines after half an hour)."""
    close_open_rows()
    since = len(stack.log_since_start("worker"))
    with BrokerCommands() as idle:
        reports = [run_by_name(names.REQUEUE_STRANDED) for _ in range(5)]
    assert all(r["requeued"] == [] and r["closed"] == {} for r in reports), reports
    assert idle.broadcasts() == [], idle.broadcasts()[:3]
    time.sleep(0.5)
    lines = [line for line in _new_log(stack, since).splitlines() if "requeue_stranded" in line or "janitor" in line]
    assert lines == [], lines[:4]

    # the observable works: with a job "started" the janitor does ask the workers
    live = client.wait(client.send_by_name(names.PING).id, timeout=30)
    job = client.submit(names.PING, user="janitor-busy", sender=lambda *args, **kwargs: None)
    with db.session() as s:
        s.execute(update(db.Job).where(db.Job.id == job.id).values(
            status=db.STARTED, worker=f"{live['worker']}:1:1", started_at=db.utcnow() - dt.timedelta(minutes=5)))
    try:
        with BrokerCommands() as busy:
            run_by_name(names.REQUEUE_STRANDED)
        assert busy.broadcasts(), "a started job makes the janitor ask the workers"
    finally:
        close_open_rows()


def test_housekeeping_success_is_not_logged_at_info(stack):
    """Every housekeeping run added two INFO lines to the worker log."""
    since = len(stack.log_since_start("worker"))
    run_by_name(names.CLEANUP_FILES)
    run_by_name(names.RESET_DAILY_QUOTAS)
    time.sleep(0.5)
    log = _new_log(stack, since)
    assert names.CLEANUP_FILES not in log and names.RESET_DAILY_QUOTAS not in log, log[-800:]


def test_bad_input_is_one_warning_line_and_a_bug_keeps_its_traceback(stack):
    """A BadInput failure was logged as "raised unexpected" at ERROR with a full traceback."""
    since = len(stack.log_since_start("worker"))
    job = client.submit(names.PING, {"sleep": -1}, user="log-badinput")
    with pytest.raises(Exception, match="sleep must be"):
        client.wait(job.task_id, timeout=30)
    log = wait_for(lambda: (text := _new_log(stack, since)) and "refused its input" in text and text, 10,
                   "the warning line")
    about_job = [line for line in log.splitlines() if job.id in line and "received" not in line]
    assert len(about_job) == 1, about_job
    assert re.search(r"WARNING/\w+", about_job[0]) and "sleep must be" in about_job[0], about_job[0]
    assert "Traceback" not in log and "raised unexpected" not in log and "raised expected" not in log, log[-1500:]

    since = len(stack.log_since_start("worker"))
    bug = client.submit(names.PING, {"drill": "error"}, user="log-badinput")
    with pytest.raises(Exception, match="on purpose"):
        client.wait(bug.task_id, timeout=30)
    log = wait_for(lambda: (text := _new_log(stack, since)) and "DrillError" in text and text, 10, "the error")
    assert re.search(rf"ERROR/[\w-]+\] Task {re.escape(names.PING)}\[{bug.task_id}\] raised unexpected", log), log[
        -1500:
    ]
    assert "Traceback (most recent call last)" in log
