"""``echonote.cleanup_files``: delete uploads and result folders past their retention.

Beat sends it by name every ``ECHONOTE_CLEANUP_SECONDS``. It deletes

- upload files (``<upload root>/<user>/<hash>/<name>``) whose mtime — the last time a client staged
  them, since staging the same content again touches it — is older than
  ``ECHONOTE_UPLOAD_RETENTION_DAYS``, then the folders that left empty;
- result folders (``<results root>/<task id>/``) in which nothing changed for
  ``ECHONOTE_RESULTS_RETENTION_DAYS``;
- with an object store, the same in it (:mod:`echonote.worker.store_cleanup`).

A retention of 0 keeps everything. A file a queued or started job still reads (its ``audio_path``)
and the result folder of such a job are never deleted. Symbolic links are neither followed nor
deleted, so nothing outside the two roots is ever touched. It logs one INFO line, with counts, only
when it deleted something.
"""
from __future__ import annotations

import logging
import os
import shutil
import stat
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import select

from echonote import config, db, names, storage
from echonote.celery_app import app
from echonote.worker.base_task import EchonoteTask
from echonote.worker.store_cleanup import sweep_store

logger = logging.getLogger(__name__)

DAY = 86400.0


@dataclass
class Swept:
    upload_files: int = 0
    upload_bytes: int = 0
    result_folders: int = 0
    result_bytes: int = 0
    store_objects: int = 0  # uploads and result files deleted from the object store (echonote.worker.store_cleanup)
    store_bytes: int = 0


def _open_jobs() -> tuple[set[str], set[str]]:
    """(resolved audio paths, task ids) of the jobs still queued or started."""
    with db.session() as s:
        rows = s.execute(select(db.Job.audio_path, db.Job.task_id)
                         .where(db.Job.status.in_((db.QUEUED, db.STARTED)))).all()
    return ({path if storage.is_uri(path) else os.path.realpath(path) for path, _ in rows if path},
            {task_id for _, task_id in rows if task_id})


def _cutoff(days: float, now: float) -> float | None:
    return now - days * DAY if days > 0 else None


def sweep_uploads(root: Path, cutoff: float, in_use: set[str], swept: Swept) -> None:
    """Delete regular files under ``root`` last used before ``cutoff`` and not in ``in_use``; then empty folders."""
    for folder, _dirs, files in os.walk(root, topdown=False, followlinks=False):
        for name in files:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode) or info.st_mtime >= cutoff or os.path.realpath(path) in in_use:
                continue  # a link, something fresh, or audio a job still reads
            os.unlink(path)
            swept.upload_files += 1
            swept.upload_bytes += info.st_size
        if folder != str(root):
            try:
                os.rmdir(folder)  # only succeeds when empty
            except OSError:
                pass


def _newest_change(folder: Path) -> tuple[float, int]:
    """The latest mtime of ``folder`` and anything in it (links not followed), and the bytes it holds."""
    newest, size = folder.lstat().st_mtime, 0
    for parent, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs + files:
            info = os.lstat(os.path.join(parent, name))
            newest = max(newest, info.st_mtime)
            size += info.st_size if stat.S_ISREG(info.st_mode) else 0
    return newest, size


def sweep_results(root: Path, cutoff: float, open_tasks: set[str], swept: Swept) -> None:
    """Delete result folders directly under ``root`` unchanged since ``cutoff``, except open jobs' folders."""
    for entry in os.scandir(root):
        if not entry.is_dir(follow_symlinks=False) or entry.name in open_tasks:
            continue
        newest, size = _newest_change(Path(entry.path))
        if newest >= cutoff:
            continue
        shutil.rmtree(entry.path)  # never follows links inside the folder
        swept.result_folders += 1
        swept.result_bytes += size


def cleanup_files(now: float | None = None) -> dict:
    """Apply both retentions once; returns what was deleted (counts and bytes)."""
    cfg = config.load()
    now = time.time() if now is None else now
    swept = Swept()
    in_use, open_tasks = _open_jobs()
    upload_cutoff = _cutoff(cfg.upload_retention_days, now)
    uploads = cfg.path("upload_dir")
    if upload_cutoff is not None and uploads.is_dir():
        sweep_uploads(uploads.resolve(), upload_cutoff, in_use, swept)
    results_cutoff = _cutoff(cfg.results_retention_days, now)
    results = cfg.path("results_dir")
    if results_cutoff is not None and results.is_dir():
        sweep_results(results.resolve(), results_cutoff, open_tasks, swept)
    sweep_store(upload_cutoff, results_cutoff, in_use, open_tasks, swept)
    if swept.upload_files or swept.result_folders or swept.store_objects:
        logger.info("cleanup: deleted %d upload file(s) (%d bytes), %d result folder(s) (%d bytes) and %d object(s) "
                    "in the store (%d bytes)", swept.upload_files, swept.upload_bytes, swept.result_folders,
                    swept.result_bytes, swept.store_objects, swept.store_bytes)
    return asdict(swept)


@app.task(name=names.CLEANUP_FILES, base=EchonoteTask)
def cleanup_files_task() -> dict:
    """Delete uploads and result folders past their retention (``ECHONOTE_*_RETENTION_DAYS``; 0 keeps them)."""
    return cleanup_files()
