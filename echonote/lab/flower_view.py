"""Flower read through its REST API: tasks as rows, a Gantt chart per worker, runtimes, Prometheus metrics.

Flower learns about tasks from the workers' event stream, by name, without
the task code. Housekeeping (everything beat sends on its own — the janitor,
the quota reset, cleanup — and pings) is left out of the rows, the table and
the charts unless ``include_housekeeping=True``: it would bury the real jobs.
Flower always asks for a login (the stack's, generated into the state directory,
or ``ECHONOTE_FLOWER_BASIC_AUTH``); these helpers send it.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import urllib.request

from echonote import names
from echonote.lab.tables import Table
from echonote.ops.monitor import flower_get, flower_request
from echonote.ops.waiting import wait_until

METRIC_LINE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)$")
STATE_COLORS = {"SUCCESS": "#2ca02c", "FAILURE": "#d62728", "REVOKED": "#7f7f7f", "STARTED": "#ff7f0e"}


def housekeeping_names() -> frozenset[str]:
    """Task names beat sends on its own schedule, plus the ping: the stack's housekeeping, not user jobs."""
    from echonote.celery_app import app

    return frozenset(entry["task"] for entry in app.conf.beat_schedule.values()) | {names.PING}


def without_housekeeping(rows: list[dict], include_housekeeping: bool = False) -> list[dict]:
    """``rows`` minus housekeeping tasks (unless ``include_housekeeping``)."""
    if include_housekeeping:
        return list(rows)
    hidden = housekeeping_names()
    return [r for r in rows if r["name"] not in hidden]


def send_task(name: str, kwargs: dict | None = None, args: list | None = None, base_url: str | None = None) -> dict:
    """POST ``/api/task/send-task/<name>``: Flower sends by name too (``async-apply`` needs the code)."""
    request = flower_request(f"/api/task/send-task/{name}", base_url, {"args": args or [], "kwargs": kwargs or {}})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def tasks(limit: int = 200, base_url: str | None = None, include_housekeeping: bool = False) -> list[dict]:
    """Flower's ``/api/tasks`` as a list of dicts, oldest first, with times in seconds since the epoch.

    ``limit`` counts every task Flower holds, housekeeping included, before it is left out.
    """
    found = flower_get(f"/api/tasks?limit={limit}", base_url)
    rows = []
    for task_id, info in (found or {}).items():
        done = info.get("succeeded") or info.get("failed") or info.get("revoked")
        rows.append({
            "task_id": task_id, "name": info.get("name"), "state": info.get("state"),
            "worker": info.get("worker"), "received": info.get("received"), "started": info.get("started"),
            "done": done, "runtime": info.get("runtime"),
        })
    return sorted(without_housekeeping(rows, include_housekeeping), key=lambda r: r["received"] or r["started"] or 0)


def tasks_table(rows: list[dict], include_housekeeping: bool = False) -> Table:
    def clock(ts):
        return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%H:%M:%S") if ts else "-"

    rows = without_housekeeping(rows, include_housekeeping)
    shown = [{"task": r["task_id"][:8], "name": r["name"], "state": r["state"], "worker": r["worker"],
              "received (UTC)": clock(r["received"]), "queued (s)": _gap(r["received"], r["started"]),
              "runtime (s)": round(r["runtime"], 2) if r["runtime"] else "-"} for r in rows]
    return Table(shown, title=f"{len(rows)} task(s) in Flower")


def _gap(a, b):
    return round(b - a, 2) if a and b else "-"


def gantt_figure(rows: list[dict], title: str = "Tasks per worker (from Flower's REST API)",
                 include_housekeeping: bool = False):
    """One lane per worker: a thin bar from received to started (waiting), a thick one from started to done."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    timed = [r for r in without_housekeeping(rows, include_housekeeping)
             if r["worker"] and (r["received"] or r["started"])]
    if not timed:
        raise ValueError("no task with a worker and times yet: submit a job and let Flower see its events first.")
    t0 = min(r["received"] or r["started"] for r in timed)
    span = max((r["done"] or r["started"] or r["received"]) for r in timed) - t0
    shortest = max(span * 0.006, 0.05)  # a 5 ms ping stays visible next to a 90 s diarization
    workers = sorted({r["worker"] for r in timed})
    fig, ax = plt.subplots(figsize=(10, 0.9 * len(workers) + 1.8), layout="constrained")
    for lane, worker in enumerate(workers):
        for r in (r for r in timed if r["worker"] == worker):
            start = (r["started"] or r["received"]) - t0
            if r["received"] and r["started"]:
                ax.broken_barh([(r["received"] - t0, r["started"] - r["received"])], (lane - 0.08, 0.16),
                               facecolors="#9e9e9e")
            end = (r["done"] - t0) if r["done"] else start + (r["runtime"] or 0.05)
            ax.broken_barh([(start, max(end - start, shortest))], (lane - 0.3, 0.6),
                           facecolors=STATE_COLORS.get(r["state"], "#1f77b4"), edgecolor="white")
    ax.set_yticks(range(len(workers)), workers)
    ax.invert_yaxis()
    ax.set_xlabel("time since the first task was received (s)")
    ax.set_ylabel("worker")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    handles = [Patch(color="#9e9e9e", label="received → started (waiting)")]
    handles += [Patch(color=c, label=f"started → done: {s}") for s, c in STATE_COLORS.items()
                if any(r["state"] == s for r in timed)]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False)
    return fig


def runtime_histogram(rows: list[dict], title: str = "Task runtimes (from Flower)", include_housekeeping: bool = False):
    """Histogram of runtimes, one colour per task name."""
    import matplotlib.pyplot as plt

    by_name: dict[str, list[float]] = {}
    for r in without_housekeeping(rows, include_housekeeping):
        if r["runtime"]:
            by_name.setdefault(r["name"] or "?", []).append(r["runtime"])
    if not by_name:
        raise ValueError("no finished task with a runtime in Flower yet.")
    low = max(min(min(v) for v in by_name.values()), 1e-3)
    high = max(max(v) for v in by_name.values()) * 1.05
    edges = [low * (high / low) ** (i / 20) for i in range(21)]  # log-spaced: ms pings and minute-long jobs
    fig, ax = plt.subplots(figsize=(8, 3.6), layout="constrained")
    ax.hist(list(by_name.values()), bins=edges, label=list(by_name), stacked=True)
    ax.set_xscale("log")
    ax.set_xlabel("runtime (s, log scale)")
    ax.set_ylabel("tasks (count)")
    ax.set_title(title)
    ax.legend(title="task name", frameon=False)
    return fig


def metrics(prefixes: tuple[str, ...] = ("flower_events_total", "flower_task_runtime_seconds_count",
                                         "flower_task_runtime_seconds_sum", "flower_worker_online"),
            base_url: str | None = None) -> Table:
    """Samples from Flower's Prometheus ``/metrics`` whose names start with one of ``prefixes``."""
    text = flower_get("/metrics", base_url)
    rows = []
    for line in str(text).splitlines():
        match = METRIC_LINE.match(line.strip())
        if match and match["name"].startswith(prefixes):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"] or ""))
            rows.append({"metric": match["name"], "labels": ", ".join(f"{k}={v}" for k, v in sorted(labels.items())),
                         "value": float(match["value"])})
    return Table(rows, title="Prometheus metrics from Flower's /metrics")


def wait_for_tasks(task_ids: list[str], timeout: float = 60.0, base_url: str | None = None,
                   include_housekeeping: bool = False) -> list[dict]:
    """Poll Flower until it has seen every task in ``task_ids`` finish; return its task rows (see :func:`tasks`)."""
    latest: list[dict] = []

    def all_finished() -> bool:
        latest[:] = tasks(base_url=base_url, include_housekeeping=True)  # awaited tasks may be housekeeping (a ping)
        return set(task_ids) <= finished_ids(latest)

    def still_missing() -> str:
        missing = sorted(set(task_ids) - finished_ids(latest))
        return f"Flower to see {missing} finish; are the workers sending events (-E)?"

    wait_until(all_finished, timeout, interval=0.5, what=still_missing)
    return without_housekeeping(latest, include_housekeeping)


def finished_ids(rows: list[dict]) -> set[str]:
    """The ids of the task rows that reached a final state."""
    return {r["task_id"] for r in rows if r["state"] in ("SUCCESS", "FAILURE", "REVOKED")}
