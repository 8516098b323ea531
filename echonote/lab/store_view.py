"""The object store from a notebook: what the bucket holds, and what Flower recorded of a job sent by URI.

Light: fsspec/s3fs through :mod:`echonote.storage`, Flower through its REST API; no torch, no numpy.
"""
from __future__ import annotations

from echonote import storage
from echonote.lab.tables import Table
from echonote.ops import monitor
from echonote.ops.waiting import wait_until


def objects(prefix: str = "") -> list[dict]:
    """Every object under the configured store (and ``prefix`` in it): URI, bytes, last modified."""
    store = storage.configured()
    if store is None:
        raise RuntimeError("no store is configured: set ECHONOTE_STORAGE_URL=s3://bucket first.")
    root = store.uri(prefix)
    with storage.translate_errors(root):
        fs = storage.filesystem("s3")
        path = root[len("s3://"):]
        found = fs.find(path, detail=True) if fs.exists(path) else {}
    return [{"uri": f"s3://{key}", "bytes": int(info.get("size") or 0), "modified": str(info.get("LastModified"))}
            for key, info in sorted(found.items())]


def objects_table(prefix: str = "") -> Table:
    rows = objects(prefix)
    return Table(rows, title=f"{len(rows)} object(s) in {storage.configured().uri(prefix)}")


def flower_record(task_id: str, timeout: float = 30.0) -> dict:
    """What Flower knows of a finished task, from the workers' events: name, state, worker and the kwargs sent."""
    seen: dict = {}

    def finished() -> bool:
        try:
            seen.update(monitor.flower_get(f"/api/task/info/{task_id}") or {})
        except OSError:  # Flower has not heard of it yet (404) or is busy
            return False
        return seen.get("state") in ("SUCCESS", "FAILURE", "REVOKED")

    wait_until(finished, timeout, interval=0.5, what=f"Flower to record task {task_id} finished")
    return {key: seen.get(key) for key in ("name", "state", "worker", "kwargs", "runtime")}
