"""Reading job rows and quotas while a real worker changes them."""
from __future__ import annotations

import time

from sqlalchemy import select

from echonote import client, db


def usage(name: str) -> float:
    """Seconds user ``name`` has used today."""
    return next(u.used_seconds_today for u in db.list_users() if u.name == name)


def wait_for(predicate, timeout: float, what: str):
    """``predicate()``'s first truthy value, polled until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"{what} within {timeout:.0f} s"
        time.sleep(0.2)
    return value


def final_row(job_id: str, timeout: float = 60) -> db.Job:
    return wait_for(lambda: (r := db.get_job(job_id)).status in db.FINISHED_STATES and r, timeout,
                    f"job {job_id} final")


def run_by_name(name: str, timeout: float = 60, **kwargs):
    """Send task ``name`` with ``kwargs`` and wait for its value."""
    return client.wait(client.send_by_name(name, kwargs=kwargs).id, timeout=timeout)


def close_open_rows(reason: str = "closed by a test: left open by an earlier one") -> int:
    """Fail every queued/started row (earlier tests' leftovers; charges kept), so a test starts with no open job."""
    with db.session() as s:
        open_ids = s.scalars(select(db.Job.id).where(db.Job.status.in_((db.QUEUED, db.STARTED)))).all()
    return sum(db.mark_failed(job_id, reason, refund=False) for job_id in open_ids)
