"""``echonote jobs`` and ``echonote job ID``: follow what was submitted, from the job table and the result backend."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from echonote.cli import audio as cli_audio
from echonote.cli.app import EXIT_RUNTIME, EXIT_USAGE, fail, friendly_errors, main

STATUSES = ("queued", "started", "succeeded", "failed", "revoked")


def _row(job, user: str) -> dict:
    return {"id": job.id, "kind": job.kind, "user": user, "status": job.status, "progress": round(job.progress, 1),
            "audio": Path(job.audio_path).name if job.audio_path else "", "seconds": round(job.audio_seconds, 1),
            "created": job.created_at.isoformat(timespec="seconds") if job.created_at else "",
            "started": job.started_at.isoformat(timespec="seconds") if job.started_at else None,
            "finished": job.finished_at.isoformat(timespec="seconds") if job.finished_at else None,
            "worker": job.worker, "error": job.error, "task_id": job.task_id}


@main.command()
@click.option("--user", help="Only this user's jobs.")
@click.option("--status", type=click.Choice(STATUSES), help="Only jobs in this state.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="How many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@friendly_errors
def jobs(user, status, limit, as_json):
    """Recent jobs, newest first: id, kind, user, state, progress, audio, seconds charged, created (UTC)."""
    from echonote import db

    rows = [_row(job, name) for job, name in db.find_jobs(user=user, status=status, limit=limit)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        which = " matching those filters" if user or status else " yet"
        click.echo(f"no jobs{which}; `echonote diarize FILE` submits one")
        return
    click.echo(f"{'id':<36}  {'kind':<10} {'user':<12} {'status':<9} {'progress':>8}  "
               f"{'audio':<28} {'seconds':>8}  created")
    for r in rows:
        click.echo(f"{r['id']:<36}  {r['kind'][:10]:<10} {r['user'][:12]:<12} {r['status']:<9} {r['progress']:>7.0f}%  "
                   f"{r['audio'][:28]:<28} {r['seconds']:>8.1f}  {r['created']}")


@main.command()
@click.argument("job_id", metavar="ID")
@click.option("--wait", is_flag=True, help="Follow its progress until it finishes.")
@click.option("--rttm", "show_rttm", is_flag=True, help="Print the RTTM (diarization jobs).")
@click.option("--json", "show_json", is_flag=True, help="Print the result JSON.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Copy the result files into this folder.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to wait with --wait.")
@friendly_errors
def job(job_id, wait, show_rttm, show_json, out, timeout):
    """One job: state, progress, error and result files (`echonote jobs` lists the ids)."""
    from echonote import db

    found = db.get_job(job_id)
    if found is None:
        fail(f"no job {job_id!r} in {_database()}; `echonote jobs` lists the recent ones", EXIT_USAGE)
    if wait and found.status not in db.FINISHED_STATES:
        found = _follow(found, timeout)
    value = _result_value(found.task_id) if found.status == db.SUCCEEDED else None
    files = _result_files(found, value)
    wants_result = show_rttm or show_json or out
    if not wants_result:
        _describe(found, files)
    if found.status == db.FAILED:
        fail(f"job {found.id} failed: {found.error}", EXIT_RUNTIME)
    if wants_result and found.status != db.SUCCEEDED:
        fail(f"job {found.id} is {found.status}, it has no results yet; add --wait to wait for them", EXIT_USAGE)
    if show_rttm:
        rttm = [f for f in files if str(f).endswith(".rttm")]
        if not rttm:
            fail(f"job {found.id} ({found.kind}) wrote no RTTM; its files: {', '.join(map(str, files)) or 'none'}",
                  EXIT_USAGE)
        from echonote import storage

        click.echo(storage.read_text(str(rttm[0])), nl=False)
    if show_json:
        click.echo(json.dumps(value if value is not None else _json_file(found), indent=2, default=str))
    for source in files if out else ():
        out.mkdir(parents=True, exist_ok=True)
        cli_audio.copy_result(source, out)


def _database() -> str:
    from echonote import config

    return config.redact_url(config.load().effective_database_url)


def _describe(found, files) -> None:
    from echonote import db

    owner = {u.id: u.name for u in db.list_users()}.get(found.user_id, "?")
    row = _row(found, owner)
    for key in ("id", "kind", "user", "status", "progress", "audio", "seconds", "created", "started", "finished",
                "worker", "error"):
        if row[key] not in (None, ""):
            click.echo(f"{key + ':':<10} {row[key]}{' %' if key == 'progress' else ''}")
    for path in files:
        click.echo(f"{'file:':<10} {path}")
    if found.status not in db.FINISHED_STATES:
        click.echo(f"follow it with: {cli_audio.follow_command(found.id)}")


def _follow(found, timeout: float):
    """Draw its progress until the task is done; return the job row once the worker has closed it too."""

    from echonote import db
    from echonote.client.terminal import Tracked, follow

    label = Path(found.audio_path).name if found.audio_path else found.kind
    follow([Tracked(label, found.task_id)], timeout=timeout, out=sys.stderr)
    from echonote.ops.waiting import wait_until

    try:  # the worker writes the row just after it stores the result
        return wait_until(lambda: (row := db.get_job(found.id)).status in db.FINISHED_STATES and row, 10, 0.1,
                          f"job {found.id}'s row to record its outcome")
    except TimeoutError:
        return db.get_job(found.id)


def _result_value(task_id: str):
    """The task's return value from the result backend; None once it has expired there."""
    from echonote import client

    with client.talking_to_broker():
        result = client.celery_app().AsyncResult(task_id)
        return result.result if result.successful() and isinstance(result.result, dict) else None


def _result_files(found, value: dict | None) -> list[Path | str]:
    """The files a finished job wrote: their URIs when the worker put them in the object store (it may be
    another machine), else the paths named in its result, else all in its result folder."""
    named = []
    stored = [value.get("rttm_uri"), value.get("result_uri"), *(value.get("file_uris") or {}).values()] if value else []
    if any(stored):
        return list(dict.fromkeys(uri for uri in stored if uri))
    if value:
        named = [value.get("rttm_path"), value.get("result_path"), *(value.get("files") or {}).values()]
    elif found.result_path:
        folder = Path(found.result_path).parent
        named = sorted(folder.iterdir()) if folder.is_dir() else [found.result_path]
    return [Path(p) for p in dict.fromkeys(p for p in named if p) if Path(p).is_file()]


def _json_file(found):
    if not found.result_path or not Path(found.result_path).is_file():
        fail(f"job {found.id}'s result is no longer in the result backend and its JSON file is gone", EXIT_RUNTIME)
    return json.loads(Path(found.result_path).read_text())
