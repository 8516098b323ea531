"""What ``celery inspect`` says about each worker, as one table, and a quota watcher for beat's reset.

Inspect sends a broadcast over the broker; only workers answer (beat and
Flower do not run tasks). Replies that do not arrive within ``timeout`` are
simply missing, never an error.
"""
from __future__ import annotations

import time

from echonote import db
from echonote.lab.tables import Table
from echonote.ops.waiting import wait_until


def inspect_table(timeout: float = 1.0) -> Table:
    """ping / registered / active_queues / stats of every worker that answers."""
    from echonote.celery_app import app

    insp = app.control.inspect(timeout=timeout)
    ping, registered = insp.ping() or {}, insp.registered() or {}
    queues, stats = insp.active_queues() or {}, insp.stats() or {}
    rows = []
    for node in sorted(set(ping) | set(registered) | set(stats)):
        pool = stats.get(node, {}).get("pool", {})
        rows.append({
            "node": node, "ping": (ping.get(node) or {}).get("ok", "-"),
            "registered (echonote.*)":
                sorted(t for t in registered.get(node, []) if t.startswith("echonote.")) or "none",
            "queues": sorted(q["name"] for q in queues.get(node, [])),
            "pool processes": pool.get("max-concurrency", "-"), "pid": stats.get(node, {}).get("pid", "-"),
            "tasks done": sum(stats.get(node, {}).get("total", {}).values()),
        })
    return Table(rows, title="celery inspect: ping, registered, active_queues, stats")


def quota_rows(*users: str) -> Table:
    """The users table as rows: quota, used today, last reset."""
    rows = [{"user": u.name, "daily quota (s)": u.daily_quota_seconds, "used today (s)": u.used_seconds_today,
             "last reset (UTC)": u.quota_reset_at.strftime("%H:%M:%S") if u.quota_reset_at else "never"}
            for u in db.list_users() if not users or u.name in users]
    return Table(rows, title="users (database)")


def wait_for_quota_reset(user: str, timeout: float = 60.0) -> float:
    """Block until ``user``'s usage is back to 0 (beat's reset ran); return the seconds waited."""
    def was_reset() -> bool:
        found = [u for u in db.list_users() if u.name == user]
        return bool(found) and found[0].used_seconds_today == 0

    start = time.monotonic()
    wait_until(was_reset, timeout, interval=0.25,
               what=f"{user}'s quota to be reset: is a beat running and a worker consuming the 'default' queue? "
                    "See stack.log_tail('beat-workshop').")
    return time.monotonic() - start
