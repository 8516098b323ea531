"""The CLI works from any folder: from elsewhere, `echonote diarize` used to create ./.state and ./data/uploads,
fail with "outside the allowed folders" after charging, and `echonote status` saw no stack."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support.cli_runs import echonote, user_copy

from echonote import config
from echonote.results import samples

FOLDERS = ("state_dir", "data_dir", "upload_dir", "results_dir")
DIR_VARS = tuple(f"ECHONOTE_{key.upper()}" for key in FOLDERS)


def test_the_folders_do_not_depend_on_the_working_directory(tmp_path, monkeypatch):
    for env in (*DIR_VARS, "ECHONOTE_HOME"):
        monkeypatch.delenv(env, raising=False)
    seen = []
    for folder in (tmp_path / "one", tmp_path / "two" / "deeper"):
        folder.mkdir(parents=True)
        monkeypatch.chdir(folder)
        cfg = config.load()
        seen.append({key: cfg.path(key) for key in FOLDERS})
    assert seen[0] == seen[1]
    assert not any(path.is_relative_to(tmp_path) for path in seen[0].values()), seen[0]


@pytest.fixture
def home_of_the_stack(stack, tmp_path):
    """An ECHONOTE_HOME whose default folders are the test stack's (symlinks), and an environment without
    any ECHONOTE_*_DIR: the CLI must find the stack through the home alone."""
    home = tmp_path / "home"
    home.mkdir()
    linked = ((".state", "ECHONOTE_STATE_DIR"), ("data", "ECHONOTE_DATA_DIR"), ("results", "ECHONOTE_RESULTS_DIR"))
    for name, env in linked:
        Path(os.environ[env]).mkdir(parents=True, exist_ok=True)
        (home / name).symlink_to(os.environ[env])
    env = {key: value for key, value in os.environ.items() if key not in DIR_VARS}
    env["ECHONOTE_HOME"] = str(home)
    return env


@pytest.mark.slow
def test_diarize_and_status_from_an_unrelated_folder(home_of_the_stack, tmp_path):
    pytest.importorskip("pyannote.audio", reason="the worker extra is not installed")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    audio = user_copy(samples.ensure_pyannote_sample()["wav"], tmp_path / "recordings", "meeting.wav")
    relative = os.path.relpath(audio, elsewhere)  # a path the user types is relative to where they are
    done = echonote("diarize", relative, env=home_of_the_stack, cwd=elsewhere, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "2 speaker(s)" in done.stdout and "meeting.rttm" in done.stdout
    status = echonote("status", "--json", env=home_of_the_stack, cwd=elsewhere, timeout=60)
    assert "none started" not in status.stdout
    report = json.loads(status.stdout)
    assert {"redis", "worker"} <= {p["role"] for p in report["processes"] if p["alive"]}, report["processes"]
    assert report["broker"]["ok"] and report["workers"], report
    assert list(elsewhere.iterdir()) == [], "nothing may be created in the working directory"


def test_status_names_the_state_directory_it_looked_in(tmp_path):
    """`status` said "none started from this state directory" without saying which one."""
    from support.cli_runs import run_cli
    from support.environments import isolated_env

    env = isolated_env(tmp_path, ECHONOTE_BROKER_URL="redis://127.0.0.1:1/0")
    shown = run_cli("status", env=env, timeout=60)
    assert f"none started from the state directory {tmp_path / 'state'}" in shown.stdout, shown.stdout
