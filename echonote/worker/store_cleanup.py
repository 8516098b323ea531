"""The object store's part of ``echonote.cleanup_files``: uploads and results past their retention.

With ``ECHONOTE_STORAGE_URL`` set, clients upload to ``<store>/uploads/<user>/<hash>/<name>`` and workers
put their outputs in ``<store>/results/<task id>/``; without this, nothing would ever delete them. The same
retentions as on disk apply, by each object's last-modified time:

- an upload older than ``ECHONOTE_UPLOAD_RETENTION_DAYS`` goes, unless a queued or started job reads it;
- a result folder whose newest object is older than ``ECHONOTE_RESULTS_RETENTION_DAYS`` goes, unless its
  task is still open.

Nothing outside those two prefixes is touched. A store that does not answer is logged and skipped: the
next run tries again. On a store you run for good, a bucket lifecycle rule can do the same work.
"""
from __future__ import annotations

import logging
from collections import defaultdict

from echonote import storage
from echonote.errors import BadInput, TransientError

logger = logging.getLogger(__name__)


def _objects(fs, prefix: str) -> dict[str, dict]:
    """key path -> info (size, LastModified) of every object under ``prefix`` (``bucket/...``); {} if none."""
    try:
        return fs.find(prefix, detail=True)
    except FileNotFoundError:
        return {}


def _modified(info: dict) -> float:
    return info["LastModified"].timestamp()


def sweep_store(upload_cutoff: float | None, results_cutoff: float | None, in_use: set[str],
                open_tasks: set[str], swept) -> None:
    """Delete the store's uploads modified before ``upload_cutoff`` and its result folders unchanged since
    ``results_cutoff`` (None: keep them), sparing ``in_use`` URIs and ``open_tasks``; counts go into ``swept``."""
    store = storage.configured()
    if store is None or (upload_cutoff is None and results_cutoff is None):
        return
    root = store.uri()
    try:
        fs = storage.filesystem("s3")
        doomed: dict[str, int] = {}  # path -> bytes
        if upload_cutoff is not None:
            for path, info in _objects(fs, storage.parse(f"{root}/uploads").path).items():
                if _modified(info) < upload_cutoff and f"s3://{path}" not in in_use:
                    doomed[path] = int(info.get("size") or 0)
        if results_cutoff is not None:
            folders: dict[str, dict[str, dict]] = defaultdict(dict)
            base = storage.parse(f"{root}/results").path
            for path, info in _objects(fs, base).items():
                folders[path[len(base):].strip("/").split("/", 1)[0]][path] = info
            for task_id, objects in folders.items():
                if task_id not in open_tasks and max(map(_modified, objects.values())) < results_cutoff:
                    doomed.update({path: int(info.get("size") or 0) for path, info in objects.items()})
        if doomed:
            fs.rm(sorted(doomed))
            swept.store_objects += len(doomed)
            swept.store_bytes += sum(doomed.values())
    except (TransientError, BadInput) as exc:
        logger.warning("cleanup: skipped the object store this time: %s", exc)
    except Exception as exc:  # noqa: BLE001 - botocore/aiohttp errors of every kind: never fail the disk's sweep
        logger.warning("cleanup: skipped the object store this time: %s", storage.describe_error(root, exc))
