"""Between two groups: empty queues, jobs, usage, uploads, results and learners' notebook copies.

The processes keep running (Redis, workers, beat, Flower are the room's, not
the group's); jobs still queued are purged and running ones revoked, so the
next group starts on an idle stack with every quota whole.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from echonote import config, db, names


@dataclass
class ResetReport:
    purged: dict[str, int] = field(default_factory=dict)
    revoked: int = 0
    jobs_deleted: int = 0
    users_reset: int = 0
    emptied: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        queued = ", ".join(f"{q} {n}" for q, n in self.purged.items()) or "none (broker unreachable)"
        out = [f"queued tasks purged: {queued}", f"running jobs revoked: {self.revoked}",
               f"job rows deleted: {self.jobs_deleted}", f"users given their whole quota back: {self.users_reset}"]
        out += [f"emptied {where}: {count} item(s)" for where, count in self.emptied.items()]
        return out + self.notes


def folders_to_empty(cfg: config.Config) -> dict[str, Path]:
    """What a reset empties: uploads, results, and every learner's notebook copy and lab layout."""
    lab = cfg.state_path / "lab"
    return {"uploads": cfg.path("upload_dir"), "results": cfg.path("results_dir"),
            "learners' notebooks": lab / "notebooks", "lab workspaces": lab / "workspaces"}


def _refuse_broad(path: Path) -> None:
    """Never empty a filesystem root, the home folder or ECHONOTE_HOME itself (a setting pointed too wide)."""
    cfg = config.load()
    if path == Path(path.anchor) or path in (Path.home().resolve(), Path(cfg.home).resolve(), cfg.path("data_dir")):
        raise ValueError(f"refusing to empty {path}: it is not a folder echonote owns alone. "
                         "Point ECHONOTE_UPLOAD_DIR / ECHONOTE_RESULTS_DIR at folders of their own.")


def empty_folder(path: Path) -> int:
    """Delete everything inside ``path`` (the folder itself stays, with its permissions); return how many entries."""
    path = path.expanduser().resolve()
    if not path.is_dir():
        return 0
    _refuse_broad(path)
    count = 0
    for entry in path.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
        count += 1
    return count


def purge_queues(queues: set[str]) -> dict[str, int]:
    """Drop the messages waiting in ``queues`` on the broker; {queue: messages dropped}."""
    from echonote.client import celery_app

    purged = {}
    with celery_app().connection_for_write() as conn:
        conn.ensure_connection(max_retries=1)
        channel = conn.default_channel
        for queue in sorted(queues):
            purged[queue] = channel.queue_purge(queue) or 0
    return purged


def revoke_unfinished() -> int:
    """Revoke (terminate) the task of every job not yet finished; return how many."""
    from echonote.client import celery_app

    with db.session() as s:
        task_ids = [job.task_id for job in s.query(db.Job).filter(db.Job.status.notin_(db.FINISHED_STATES))]
    if task_ids:
        celery_app().control.revoke(task_ids, terminate=True, signal="SIGTERM")
    return len(task_ids)


def reset(cfg: config.Config | None = None) -> ResetReport:
    """Reset the workshop's data; the running processes are left alone."""
    cfg = cfg or config.load()
    targets = folders_to_empty(cfg)
    for path in targets.values():  # all checked before anything is deleted
        _refuse_broad(path.expanduser().resolve())
    report = ResetReport()
    try:
        report.purged = purge_queues(set(names.ROUTES.values()) | set(cfg.worker_queues))
        report.revoked = revoke_unfinished()
    except Exception as exc:  # a stopped stack has nothing queued or running; the files still go
        report.notes.append(f"broker not reachable ({type(exc).__name__}): nothing purged or revoked")
    with db.session() as s:
        report.jobs_deleted = s.query(db.Job).delete()
    report.users_reset = db.reset_daily_quotas()
    for what, path in targets.items():
        report.emptied[f"{what} ({path})"] = empty_folder(path)
    return report
