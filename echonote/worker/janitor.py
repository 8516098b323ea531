"""Put jobs back on their queue when the worker running them died without a word.

With ``task_acks_late`` a message is acknowledged only when its task ends. If
a pool process dies, Celery requeues its message at once
(``task_reject_on_worker_lost``). If the whole worker dies (kill -9, a lost
container or machine), nobody does: Redis keeps the message as "unacked" and
redelivers it only after ``visibility_timeout`` — two hours here, since it
must exceed the hard time limit. Beat sends ``echonote.requeue_stranded``
every minute: it finds job rows still "started" by a worker process that no
longer answers, and restores their messages through kombu's own
``restore_by_tag``.
"""
from __future__ import annotations

import datetime as dt
import json
import logging

from sqlalchemy import select

from echonote import db, names
from echonote.celery_app import app
from echonote.worker.base_task import EchonoteTask

logger = logging.getLogger(__name__)


def live_workers(timeout: float = 2.0) -> dict[str, int]:
    """node -> main pid of every worker that answers."""
    stats = app.control.inspect(timeout=timeout).stats() or {}
    return {node: int(info.get("pid", -1)) for node, info in stats.items()}


def stranded_jobs(alive: dict[str, int], min_age: float = 20.0) -> dict[str, db.Job]:
    """task id -> job started more than ``min_age`` seconds ago by a worker process that is gone."""
    cutoff = db.utcnow().replace(tzinfo=None) - dt.timedelta(seconds=min_age)
    with db.session() as s:
        started = list(s.scalars(select(db.Job).where(db.Job.status == db.STARTED)))
    stranded = {}
    for job in started:
        if job.started_at is None or job.started_at.replace(tzinfo=None) > cutoff:
            continue
        node, _, pids = (job.worker or "").partition(":")
        main_pid = pids.split(":", 1)[0]
        if not node or not main_pid.isdigit():
            continue
        if alive.get(node) != int(main_pid):
            stranded[job.task_id] = job
    return stranded


@app.task(name=names.REQUEUE_STRANDED, base=EchonoteTask)
def requeue_stranded() -> dict:
    """Restore the unacked messages of jobs whose worker died; returns what it did."""
    alive = live_workers()
    if not alive:  # no answer at all tells nothing (a broadcast can fail): never guess
        return {"alive_workers": 0, "stranded": 0, "requeued": []}
    stranded = stranded_jobs(alive)
    requeued = []
    if stranded:
        with app.connection_for_write() as conn:
            channel = conn.default_channel
            client = channel.client
            for tag, raw in client.hscan_iter(channel.unacked_key):
                message = json.loads(raw)[0]
                task_id = message.get("headers", {}).get("id")
                if task_id in stranded:
                    channel.qos.restore_by_tag(tag, client, leftmost=True)
                    requeued.append(task_id)
        for task_id in requeued:
            with db.session() as s:
                job = s.get(db.Job, stranded[task_id].id)
                job.status = db.QUEUED
                job.error = f"requeued: worker {stranded[task_id].worker} stopped answering"
            logger.warning("requeued job %s: its worker %s is gone", task_id, stranded[task_id].worker)
    return {"alive_workers": len(alive), "stranded": len(stranded), "requeued": requeued}
