"""What is running and what it knows: broker, workers (inspect), beat's schedule, Flower's API.

Light: the same import footprint as beat. Broker errors are reported, never raised.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import re
import urllib.request
from dataclasses import dataclass, field

from echonote import config, names

UNREGISTERED = re.compile(r"Received unregistered task of type '([^']+)'")


@dataclass
class WorkerInfo:
    node: str
    registered: list[str] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)
    active: int = 0

    @property
    def missing(self) -> list[str]:
        """Routed task names this worker cannot run."""
        return [name for name in names.ALL_TASKS if name not in self.registered]

    @property
    def lacks_code(self) -> bool:
        """True when the worker has none of echonote's tasks: it was started without --include."""
        return not any(name.startswith("echonote.") for name in self.registered)


def fix_for_missing(node: str) -> str:
    include = config.load().worker_include
    return (
        f"{node} has not registered echonote's tasks: it was started without the task code. "
        f"Restart it with `celery -A echonote.celery_app worker --include={include} -E` "
        f"(or `echonote down && echonote up`)."
    )


def broker_status(timeout: float = 2.0) -> tuple[bool, str]:
    """(reachable, message) for the configured broker."""
    from echonote.celery_app import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
        return True, "reachable"
    except Exception as exc:  # any transport error is a report, not a crash
        return False, f"unreachable ({type(exc).__name__}: {exc})"


def workers(timeout: float = 1.0) -> list[WorkerInfo]:
    """Every worker that answers a broadcast within ``timeout``, with tasks and queues."""
    from echonote.celery_app import app

    inspector = app.control.inspect(timeout=timeout)
    registered = inspector.registered() or {}
    queues = inspector.active_queues() or {}
    active = inspector.active() or {}
    nodes = sorted(set(registered) | set(queues))
    return [
        WorkerInfo(
            node,
            sorted(registered.get(node, [])),
            sorted(q["name"] for q in queues.get(node, [])),
            len(active.get(node, [])),
        )
        for node in nodes
    ]


@dataclass
class ScheduleEntry:
    name: str
    task: str
    schedule: str
    next_run: dt.datetime


def beat_next_runs(now: dt.datetime | None = None) -> list[ScheduleEntry]:
    """Next run time of each beat entry, computed from the schedule itself.

    (``celery inspect scheduled`` is something else: ETA/countdown tasks a
    worker holds, not beat's schedule.)
    """
    from echonote.celery_app import app

    now = now or dt.datetime.now(dt.UTC)
    rows = []
    for name, entry in app.conf.beat_schedule.items():
        schedule = entry["schedule"]
        if isinstance(schedule, (int, float, dt.timedelta)):
            from celery.schedules import schedule as interval

            schedule = interval(schedule if isinstance(schedule, dt.timedelta) else dt.timedelta(seconds=schedule))
        schedule.app = app
        remaining = schedule.remaining_estimate(now)
        next_run = (now + remaining + dt.timedelta(milliseconds=500)).replace(microsecond=0)
        rows.append(ScheduleEntry(name, entry["task"], _describe(schedule), next_run))
    return rows


def _describe(schedule) -> str:
    run_every = getattr(schedule, "run_every", None)
    if run_every is not None and not hasattr(schedule, "hour"):
        return f"every {run_every.total_seconds():g} s"
    return f"crontab(minute={schedule._orig_minute}, hour={schedule._orig_hour}) UTC"


def unregistered_in_logs(log_text: str) -> list[str]:
    """Task names a worker log says it received without having the code."""
    return sorted(set(UNREGISTERED.findall(log_text)))


def beat_lock_holder(timeout: float = 2.0) -> str | None:
    """``host:pid:id`` of the beat that holds the stack's beat lock (the one sending), or None when no beat does.

    A beat with a key of its own (the notebooks' workshop beat) does not count: it
    does not send the stack's schedule.
    """
    import redis

    cfg = config.load()
    url = cfg.effective_broker_url
    if not url.startswith(("redis://", "rediss://")):
        return "(not checked: the beat lock lives in a Redis broker)"
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        holder = client.get(cfg.beat_lock_key)
    finally:
        client.close()
    return holder.decode() if holder else None


def no_beat_problem() -> str:
    """The status line for a stack whose schedule nobody sends, with its fix."""
    return ("no beat running: nothing sends the schedule (the daily quota reset, the stranded-job janitor). "
            "Start one with `echonote up --role beat`; `echonote logs beat` shows why the last one stopped.")


def flower_request(path: str, base_url: str | None = None, body: dict | None = None) -> urllib.request.Request:
    """A request to Flower with the stack's login (ECHONOTE_FLOWER_BASIC_AUTH, or the generated one);
    a JSON body makes it a POST."""
    cfg = config.load()
    url = (base_url or f"http://127.0.0.1:{cfg.flower_port}") + path
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", "Basic " + base64.b64encode(cfg.flower_basic_auth.encode()).decode())
    return request


def flower_get(path: str, base_url: str | None = None, timeout: float = 5.0):
    """GET a Flower REST endpoint with the stack's login and decode JSON."""
    with urllib.request.urlopen(flower_request(path, base_url), timeout=timeout) as response:
        body = response.read()
    return json.loads(body) if body.strip().startswith((b"{", b"[")) else body.decode()
