"""The seed document's claim, proven: a beat with no torch and no numpy drives a full worker by name."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from echonote import db
from echonote.testing import role_env


@pytest.fixture(scope="module")
def beat_venv() -> Path:
    """A venv with only requirements/beat.txt and the echonote package (shared with bench/ and test_role_envs)."""
    return role_env.build("beat", role_env.ROOT / "bench" / ".venvs" / "beat")


@pytest.mark.slow
def test_light_venv_has_no_heavy_packages(beat_venv):
    code = "from echonote.boundary import HEAVY_PACKAGES, heavy_installed; print(heavy_installed(HEAVY_PACKAGES))"
    out = subprocess.run([str(beat_venv / "bin/python"), "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_beat_from_light_venv_drives_full_worker(beat_venv, stack, tmp_path):
    db.set_quota("light", 100)
    from echonote import client, names

    client.submit(names.PING, user="light", audio_seconds=33)
    assert next(u for u in db.list_users() if u.name == "light").used_seconds_today == 33

    env = dict(os.environ, ECHONOTE_WORKSHOP_SCHEDULE_SECONDS="2")
    log = open(tmp_path / "beat.log", "w")
    beat = subprocess.Popen(
        [str(beat_venv / "bin/celery"), "-A", "echonote.celery_app", "beat", "--loglevel", "INFO",
         "-s", str(tmp_path / "schedule")],
        env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,  # cwd outside the repo: the venv's copy is used
    )
    try:
        deadline = time.monotonic() + 60
        while next(u for u in db.list_users() if u.name == "light").used_seconds_today != 0:
            assert beat.poll() is None, (tmp_path / "beat.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "beat.log").read_text()
            time.sleep(0.5)
    finally:
        beat.terminate()
        beat.wait(timeout=15)
    text = (tmp_path / "beat.log").read_text()
    assert "Sending due task reset-daily-quotas (echonote.reset_daily_quotas)" in text
    assert str(beat_venv) in subprocess.run(
        [str(beat_venv / "bin/python"), "-c", "import echonote; print(echonote.__file__)"],
        capture_output=True, text=True, cwd=tmp_path).stdout
    assert sys.prefix != str(beat_venv)
