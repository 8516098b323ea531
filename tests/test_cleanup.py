"""Beat's cleanup task, by name through a real worker: uploads and result folders past their retention
go; fresh ones, those an open job still uses, and anything behind a symbolic link stay."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.job_rows import run_by_name, wait_for

from echonote import client, config, db, names

pytest.importorskip("numpy", reason="the worker extra is not installed")

DAY = 86400


def _file(path: Path, age_days: float, text: str = "RIFF audio bytes") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    _age(path, age_days)
    return path


def _age(path: Path, days: float) -> None:
    then = time.time() - days * DAY
    os.utime(path, (then, then), follow_symlinks=False)


def test_cleanup_by_name_deletes_only_what_is_past_retention(stack, tmp_path):
    """Nothing ever deleted uploads or results: every run of a file added a copy for good."""
    cfg = config.load()
    assert cfg.upload_retention_days == 7 and cfg.results_retention_days == 30  # the worker's defaults
    uploads, results = cfg.path("upload_dir") / "cleanup-user", cfg.path("results_dir")
    old = _file(uploads / "0123456789abcdef" / "old.wav", 10)
    fresh = _file(uploads / "fedcba9876543210" / "fresh.wav", 1)
    in_use = _file(uploads / "00112233aabbccdd" / "queued.wav", 10)
    outside = _file(tmp_path / "outside" / "mine.wav", 100)
    link = uploads / "link.wav"
    link.symlink_to(outside)
    _age(link, 100)
    job = client.submit(names.DIARIZE, kind="diarize", audio_path=str(in_use), user="cleanup",
                        sender=lambda *args, **kwargs: None)  # a queued job that still needs its upload
    old_result = _file(results / "old-task" / "meeting.rttm", 40)
    _age(old_result.parent, 40)
    fresh_result = _file(results / "fresh-task" / "meeting.rttm", 3)
    open_result = _file(results / job.task_id / "partial.json", 40)
    _age(open_result.parent, 40)
    (results / "link-task").symlink_to(outside.parent)
    _age(results / "link-task", 100)

    since = len(stack.log_since_start("worker"))
    report = run_by_name(names.CLEANUP_FILES)

    assert report["upload_files"] >= 1 and report["result_folders"] >= 1, report
    assert not old.exists() and not old.parent.exists(), "the old upload and its emptied folder are gone"
    assert fresh.exists() and in_use.exists() and link.is_symlink() and outside.exists()
    assert not old_result.parent.exists()
    assert fresh_result.exists() and open_result.exists() and (results / "link-task").is_symlink()
    line = wait_for(lambda: next((ln for ln in stack.log_since_start("worker")[since:].splitlines()
                                  if "cleanup: deleted" in ln), None), 10, "the cleanup's log line")
    assert "INFO" in line and "upload file(s)" in line

    since = len(stack.log_since_start("worker"))
    assert run_by_name(names.CLEANUP_FILES) == {"upload_files": 0, "upload_bytes": 0, "result_folders": 0,
                                                "result_bytes": 0, "store_objects": 0, "store_bytes": 0}
    time.sleep(0.5)
    assert "cleanup" not in stack.log_since_start("worker")[since:], "nothing deleted: nothing logged"
    db.fail_job(job.id, "closed by the test")


def test_a_retention_of_zero_keeps_everything(monkeypatch):
    from echonote.worker.cleanup import cleanup_files

    cfg = config.load()
    upload = _file(cfg.path("upload_dir") / "keeper" / "aaaaaaaaaaaaaaaa" / "ancient.wav", 3650)
    result = _file(cfg.path("results_dir") / "ancient-task" / "x.rttm", 3650)
    _age(result.parent, 3650)
    monkeypatch.setenv("ECHONOTE_UPLOAD_RETENTION_DAYS", "0")
    monkeypatch.setenv("ECHONOTE_RESULTS_RETENTION_DAYS", "0")
    assert cleanup_files()["upload_files"] == 0
    assert upload.exists() and result.exists()


def test_beat_schedules_the_cleanup_by_name():
    """Beat's schedule names the task (beat imports no task code) at the configured interval."""
    probe = ("import json, sys; from echonote import celeryconfig as c; e = c.beat_schedule['cleanup-files']; "
             "print(json.dumps({'task': e['task'], 'every': e['schedule'], 'queue': e['options']['queue'], "
             "'worker_code': sorted(m for m in sys.modules if m.startswith('echonote.worker'))}))")
    env = dict(os.environ, ECHONOTE_CLEANUP_SECONDS="17")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    entry = json.loads(out.stdout)
    assert entry == {"task": names.CLEANUP_FILES, "every": 17.0, "queue": names.ROUTES[names.CLEANUP_FILES],
                     "worker_code": []}, out.stderr
