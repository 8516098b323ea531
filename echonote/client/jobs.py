"""Submit work by task name and follow it: the helpers the CLI and notebooks share.

Light on purpose: a client needs the app, the names and the database, never
the task code. ``submit`` checks the quota, writes the job row, then sends the
task by name; the worker finds its job row through a message header.
"""
from __future__ import annotations

import getpass
import math
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from echonote import config, db
from echonote.names import JOB_HEADER


class ClientError(RuntimeError):
    """Something the user can fix; the message says what."""


class QuotaExceeded(ClientError):
    pass


class BrokerUnavailable(ClientError):
    pass


def current_user() -> str:
    return config.load().user or getpass.getuser()


def celery_app():
    from echonote.celery_app import app

    return app


@contextmanager
def talking_to_broker(app=None):
    """Check the result store answers, then run the block; connection failures become :class:`BrokerUnavailable`."""
    cfg = config.load()
    try:
        _ping_result_store(app or celery_app())
        yield
    except Exception as exc:  # kombu raises OperationalError and friends
        if _is_connection_error(exc):
            raise BrokerUnavailable(
                f"cannot reach the broker at {config.redact_url(cfg.effective_broker_url)} "
                f"({type(exc).__name__}: {exc}). "
                "Start the stack with `echonote up` (or `make up`), or point ECHONOTE_BROKER_URL at a running Redis."
            ) from exc
        raise


def check_broker() -> None:
    """Raise :class:`BrokerUnavailable` now (one PING) if the broker's Redis does not answer."""
    with talking_to_broker():
        pass


def send_by_name(name: str, args=None, kwargs=None, **options):
    """``app.send_task`` with a bounded wait for the broker and a clear error."""
    policy = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1.0}
    app = celery_app()
    with talking_to_broker(app):
        return app.send_task(name, args=args, kwargs=kwargs, retry=True, retry_policy=policy, **options)


def _ping_result_store(app) -> None:
    """One PING on the pooled result-store connection (well under a millisecond when up).

    Without it a dead Redis is only noticed by the result consumer, which
    retries for about 20 s before giving up.
    """
    client = getattr(app.backend, "client", None)
    if client is not None and hasattr(client, "ping"):
        client.ping()


def _is_connection_error(exc: BaseException | None) -> bool:
    """True if ``exc`` or anything in its chain is a broker/backend connection failure."""
    from kombu.exceptions import OperationalError
    from redis.exceptions import ConnectionError as RedisConnectionError

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (OperationalError, RedisConnectionError, ConnectionError, TimeoutError)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def submit(
    task_name: str,
    kwargs: dict[str, Any] | None = None,
    *,
    kind: str | None = None,
    audio_path: str | None = None,
    audio_seconds: float = 0.0,
    user: str | None = None,
    sender=None,
    **send_options,
) -> db.Job:
    """Check the quota, create the job row, send ``task_name`` by name; return the job.

    ``sender(name, kwargs, task_id, headers, **options)`` replaces the plain send
    (a canvas uses it). Over quota raises :class:`QuotaExceeded` and sends nothing. A broker that
    is down before anything is charged raises :class:`BrokerUnavailable` with no row written; one
    that fails during the send marks the row failed and refunds the quota: no row is left claiming
    to be queued.
    """
    if not math.isfinite(audio_seconds) or audio_seconds < 0:
        raise ClientError(f"audio_seconds must be a finite number >= 0, got {audio_seconds}")
    check_broker()  # a broker that is down: nothing charged, no job row
    name = user or current_user()
    with db.session() as s:
        owner = db.charge(s, name, audio_seconds)
        if owner is None:
            left = s.scalar(select(db.User).where(db.User.name == name)).remaining_seconds
            raise QuotaExceeded(
                f"user {name!r} has {left:.0f} s of daily quota left but this job needs "
                f"{audio_seconds:.0f} s. Wait for the reset at 00:00 UTC, or raise it: "
                f"`echonote quota set {name} SECONDS`."
            )
        job = db.Job(user_id=owner.id, kind=kind or task_name, audio_path=audio_path, audio_seconds=audio_seconds)
        job.task_id = job.id = _new_id()
        s.add(job)
    try:
        (sender or _send)(task_name, kwargs or {}, job.task_id, {JOB_HEADER: job.id}, **send_options)
    except Exception as exc:
        db.mark_failed(job.id, f"not sent: {exc}")
        raise
    return job


def _send(name, kwargs, task_id, headers, **options):
    return send_by_name(name, kwargs=kwargs, task_id=task_id, headers=headers, **options)


def _new_id() -> str:
    import uuid

    return str(uuid.uuid4())


@dataclass
class Progress:
    """One observation of a task: Celery state plus our PROGRESS meta."""

    state: str
    step: str = ""
    completed: int = 0
    total: int = 0
    percent: float = 0.0
    eta_seconds: float | None = None  # the worker's estimate of the seconds left; None until it has one


def progress_of(result) -> Progress:
    state = result.state
    info = result.info if state == "PROGRESS" else None  # each read is a GET: read once, the task may move on
    if not isinstance(info, dict):
        info = {}
    percent = 100.0 if state == "SUCCESS" else float(info.get("percent", 0.0))
    eta = info.get("eta_seconds")
    eta = float(eta) if isinstance(eta, (int, float)) and not isinstance(eta, bool) and eta >= 0 else None
    return Progress(state, info.get("step", ""), int(info.get("completed", 0)), int(info.get("total", 0)), percent,
                    eta)


def finished_value(result):
    """A finished task's return value, or its error raised here.

    Read with plain GETs of the result key, not with ``AsyncResult.get()``, whose
    Pub/Sub consumer is shared per process and not safe to drive from several
    threads (a notebook panel polls in the background while its cells wait)."""
    result.maybe_throw()
    return result.result


def wait(task_id: str, timeout: float = 600.0, on_progress: Callable[[Progress], None] | None = None,
         poll: float = 0.2):
    """Wait for a task by id, reporting each new progress observation; return its result.

    Raises the task's error on failure and :class:`TimeoutError` after ``timeout``.
    """
    result = celery_app().AsyncResult(task_id)
    deadline = time.monotonic() + timeout
    last = None
    while True:
        seen = progress_of(result)
        if on_progress and seen != last:
            on_progress(seen)
            last = seen
        if result.ready():
            return finished_value(result)
        if time.monotonic() > deadline:
            raise TimeoutError(f"task {task_id} still {seen.state} after {timeout:.0f} s")
        time.sleep(poll)


def release_pending_results() -> None:
    """Drop the results Celery keeps pending for this process now, rather than during interpreter
    shutdown, where their clean-up fails and prints a traceback. Call it before a process exits."""
    import sys

    if "echonote.celery_app" not in sys.modules:
        return
    backend = sys.modules["echonote.celery_app"].app.backend
    pending = getattr(backend, "_pending_results", None)
    for waiters in list(getattr(pending, "concrete", {}).values()):
        for result in list(waiters.values()):
            try:
                backend.remove_pending_result(result)
            except Exception:  # a broker already gone: nothing left to release
                pass
