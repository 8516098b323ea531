"""Keep job rows honest: requeue jobs whose worker died, close rows whose message is gone.

With ``task_acks_late`` a message is acknowledged only when its task ends. If
a pool process dies, Celery requeues its message at once
(``task_reject_on_worker_lost``). If the whole worker dies (kill -9, a lost
container or machine), nobody does: Redis keeps the message as "unacked" and
redelivers it only after ``visibility_timeout`` — two hours here, since it
must exceed the hard time limit. Beat sends ``echonote.requeue_stranded``
every minute. It

- restores, through kombu's own ``restore_by_tag``, the unacked messages of jobs
  "started" by a worker process that is gone (see :func:`is_running`: a process
  whose pid answers under any node name of its machine is alive, so two workers
  sharing one node name, or a renamed node, never make a running job look dead;
  the nodes concerned are asked again, for longer, before anything is moved);
- closes rows still "queued" or "started" :data:`ORPHAN_AFTER` seconds after
  submission whose message is nowhere in the broker (not in a queue, not
  delivered to a worker): nothing would ever finish them. Their result, if the
  task did store one, decides the outcome (a stored failure is refunded unless it was
  the user's, see :mod:`echonote.worker.jobs`); otherwise they fail with the
  reason and are refunded.

When no job is "started" it asks no worker anything, and when nothing is open it reads
nothing from the broker either: every minute it then costs two small queries and logs
nothing above DEBUG.

A transcript canvas's rows are closed at once by :func:`canvas_failed`, the error
callback the client attaches to the chord's callback (``link_error``).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
import socket
import time

import psutil
import redis.exceptions
from kombu.exceptions import OperationalError
from sqlalchemy import select

from echonote import db, names
from echonote.celery_app import app
from echonote.errors import BadInput
from echonote.names import CHARGE_HEADER, JOB_HEADER
from echonote.worker.base_task import EchonoteTask

logger = logging.getLogger(__name__)

#: a queued or started row is closed when its message has been gone from the broker this long after submission
ORPHAN_AFTER = 300.0


def live_workers(timeout: float = 2.0, destination: list[str] | None = None) -> set[tuple[str, int]]:
    """(node, main pid) of every worker that answers; every reply counts, even two under one node name."""
    replies = app.control.broadcast("stats", reply=True, timeout=timeout, destination=destination) or []
    return {(node, int(info.get("pid", -1))) for reply in replies for node, info in reply.items()
            if isinstance(info, dict)}


_START_SUFFIX = re.compile(r"-[0-9a-f]{6}$")  # echonote.ops.stack names a worker name@host-<6 hex>, unique per start


def _machine(node: str) -> str:
    return _START_SUFFIX.sub("", node.rpartition("@")[2])


def _local_worker_process(node: str, pid: int) -> bool:
    """True if ``node`` names this machine and ``pid`` is a live celery process here."""
    if _machine(node) != socket.gethostname():
        return False
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and "celery" in " ".join(process.cmdline())
    except psutil.Error:
        return False


def is_running(worker: str | None, alive: set[tuple[str, int]]) -> bool | None:
    """Whether the process in a job's ``worker`` field ("node:main pid:pool pid") is alive; None if unknown.

    Alive when it answers under its node name, when its pid answers under any node name of the same
    machine (two workers sharing a name, a renamed node), or when it is a celery process on this machine.
    Other machines' pids are not compared: containers often share the same small pids."""
    node, _, pids = (worker or "").partition(":")
    main_pid = pids.split(":", 1)[0]
    if not node or not main_pid.isdigit():
        return None
    pid = int(main_pid)
    return ((node, pid) in alive or any(p == pid and _machine(n) == _machine(node) for n, p in alive)
            or _local_worker_process(node, pid))


def stranded_jobs(alive: set[tuple[str, int]], min_age: float = 20.0) -> dict[str, db.Job]:
    """task id -> job started more than ``min_age`` seconds ago by a worker process that is gone."""
    cutoff = db.utcnow().replace(tzinfo=None) - dt.timedelta(seconds=min_age)
    with db.session() as s:
        started = list(s.scalars(select(db.Job).where(db.Job.status == db.STARTED)))
    return {job.task_id: job for job in started
            if job.started_at is not None and job.started_at.replace(tzinfo=None) <= cutoff
            and is_running(job.worker, alive) is False}


def started_jobs_exist() -> bool:
    with db.session() as s:
        return s.scalar(select(db.Job.id).where(db.Job.status == db.STARTED).limit(1)) is not None


def ids_in_broker() -> set[str]:
    """Task ids and job ids named by any message in the broker, queued or delivered and unacked
    (running or held by a worker); a canvas's parts name their job."""
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        client = channel.client
        raws = [(raw, True) for _, raw in client.hscan_iter(channel.unacked_key)]
        raws += [(raw, False) for key in client.scan_iter(_type="list") for raw in client.lrange(key, 0, -1)]
    found = set()
    for raw, unacked in raws:
        try:
            message = json.loads(raw)
            headers = (message[0] if unacked else message).get("headers") or {}
        except (ValueError, TypeError, AttributeError, IndexError, KeyError):
            continue  # a list that holds no messages
        found.update(str(headers[k]) for k in ("id", JOB_HEADER, CHARGE_HEADER) if headers.get(k))
    return found


def _open_rows_older_than(seconds: float) -> list[db.Job]:
    cutoff = db.utcnow().replace(tzinfo=None) - dt.timedelta(seconds=seconds)
    with db.session() as s:
        rows = s.scalars(select(db.Job).where(db.Job.status.in_((db.QUEUED, db.STARTED))))
        return [job for job in rows if job.created_at.replace(tzinfo=None) <= cutoff]


def _settle_from_result(job: db.Job) -> str | None:
    """Close ``job`` from the outcome its task stored, if it stored one; returns how, or None."""
    result = app.AsyncResult(job.task_id)
    state = result.state
    if state == "SUCCESS":
        value = result.result if isinstance(result.result, dict) else {}
        closed = db.mark_succeeded(job.id, value.get("result_path"))
        return "succeeded (its result was stored but the row missed it)" if closed else None
    if state == "FAILURE":
        refund = not isinstance(result.result, BadInput)  # the user's own error keeps its charge
        closed = db.mark_failed(job.id, f"{type(result.result).__name__}: {result.result}", refund=refund)
        how = "failed (its error was stored but the row missed it)" + ("; refunded" if refund else "")
        return how if closed else None
    return None


def close_orphans(min_age: float = ORPHAN_AFTER, recheck_after: float = 1.0) -> dict[str, str]:
    """Close queued/started rows older than ``min_age`` whose message is nowhere in the broker: job id -> what was done.

    The broker is read before and after the rows (and ``recheck_after`` seconds apart), so a message in
    flight between a queue and a worker at one read is seen at the other."""
    if not _open_rows_older_than(min_age):
        return {}  # nothing could be an orphan: leave the broker alone
    first = ids_in_broker()
    candidates = [job for job in _open_rows_older_than(min_age) if not {job.id, job.task_id} & first]
    if not candidates:
        return {}
    time.sleep(recheck_after)
    second = ids_in_broker()
    closed = {}
    for job in candidates:
        if {job.id, job.task_id} & second:
            continue
        how = _settle_from_result(job)
        if how is None and db.mark_failed(job.id, (
                f"lost: {min_age / 60:.0f} min after submission its message was neither queued nor delivered to "
                f"any worker, so nothing would ever run it (the broker lost it, a queue was purged, or the worker "
                f"holding it vanished). Submit the audio again; the quota charge was refunded.")):
            how = "failed: message gone; refunded"
        if how:
            closed[job.id] = how
            logger.warning("closed job %s: %s", job.id, how)
    return closed


#: what a broker connection that Redis closed (a restart, an idle timeout, CLIENT KILL) raises on first use
BROKER_DROPPED = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OperationalError,
                  ConnectionError)


@app.task(name=names.REQUEUE_STRANDED, base=EchonoteTask)
def requeue_stranded(orphan_after: float = ORPHAN_AFTER) -> dict:
    """Restore the unacked messages of jobs whose worker died and close rows whose message is gone.

    With no job "started", no worker is asked anything (the broadcast and its replies are skipped).
    A pooled broker connection that Redis closed fails on first use; redis-py drops that connection as
    it raises, so the run is tried once more, on a new connection (every step is safe to repeat); a second
    failure is raised. The broker pool itself is left alone: kombu's ``force_close_all()`` would mark it
    closed for good (every later publish from this process: "Acquire on closed pool"), and even with
    ``close_pool=False`` it leaves a pool whose blocking acquire waits for ever."""
    try:
        return _janitor_run(float(orphan_after))
    except BROKER_DROPPED as exc:
        logger.info("broker connection dropped (%s: %s); trying once more",
                    type(exc).__name__, exc)
        return _janitor_run(float(orphan_after))


def _janitor_run(orphan_after: float) -> dict:
    if not started_jobs_exist():
        closed = close_orphans(orphan_after)
        logger.debug("no started jobs: no workers asked; %d row(s) closed", len(closed))
        return {"alive_workers": None, "stranded": 0, "requeued": [], "closed": closed}
    alive = live_workers()
    if not alive:  # no answer at all tells nothing (a broadcast can fail): never guess
        return {"alive_workers": 0, "stranded": 0, "requeued": [], "closed": {}}
    stranded = stranded_jobs(alive)
    if stranded:  # a busy worker may answer late: ask the nodes concerned again, for longer, before moving anything
        nodes = sorted({job.worker.partition(":")[0] for job in stranded.values()})
        alive |= live_workers(timeout=5.0, destination=nodes)
        stranded = {task_id: job for task_id, job in stranded.items() if is_running(job.worker, alive) is False}
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
            db.requeue(stranded[task_id].id, f"requeued: worker {stranded[task_id].worker} stopped answering")
            logger.warning("requeued job %s: its worker %s is gone", task_id, stranded[task_id].worker)
    closed = close_orphans(orphan_after)
    return {"alive_workers": len(alive), "stranded": len(stranded), "requeued": requeued, "closed": closed}


@app.task(name=names.CANVAS_FAILED)
def canvas_failed(request, exc=None, traceback=None) -> None:
    """Error callback of a canvas's final task: fail its job row with the reason and refund it.

    Celery calls it in the worker where a part failed, as ``(request, exc, traceback)`` with the
    callback's request (its id is the job's task id); a worker without this code sends it on as a
    task with the task id alone."""
    task_id = getattr(request, "id", request)
    with db.session() as s:
        job = s.scalar(select(db.Job).where(db.Job.task_id == task_id))
    if job is None:
        return
    # a ChordError reads "Dependency <task id> raised BadInput('...')": keep the part's own error
    detail = re.sub(r"^Dependency \S+ raised ", "", str(exc)) if exc is not None else "no detail"
    reason = f"a part of the workflow failed: {detail}"
    users = isinstance(exc, BadInput) or detail.startswith(BadInput.__name__)  # the input's fault: charge kept
    charge = "The quota charge stands: the input was refused." if users else "The quota charge was refunded."
    if db.mark_failed(job.id, f"{reason}. {charge}", refund=not users):
        logger.warning("job %s failed: %s", job.id, reason)
