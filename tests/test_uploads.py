"""Uploads are stored once per content, per user, and a down broker neither copies nor charges."""
from __future__ import annotations

import os
import time

import pytest
from support.cli_runs import run_cli
from support.environments import free_port, isolated_env

from echonote import config, db
from echonote.client import uploads


@pytest.fixture
def upload_root(tmp_path, monkeypatch):
    monkeypatch.setenv("ECHONOTE_UPLOAD_DIR", str(tmp_path / "uploads"))
    return config.load().path("upload_dir")


def _files(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_same_bytes_staged_twice_reuse_one_file_and_touch_it(tmp_path, upload_root):
    """Every run copied the file into the uploads again: two runs, two copies."""
    recording = tmp_path / "meeting room.wav"
    recording.write_bytes(b"RIFF same audio")
    first = uploads.stage(recording, user="ada")
    assert first.parent.parent == upload_root / "ada" and len(first.parent.name) == uploads.DIGEST_CHARS
    assert first.name == "meeting_room.wav" and first.read_bytes() == recording.read_bytes()
    old = time.time() - 3 * 86400
    os.utime(first, (old, old))
    renamed = tmp_path / "copy.wav"
    renamed.write_bytes(recording.read_bytes())
    again = [uploads.stage(recording, user="ada"), uploads.stage(renamed, user="ada"),
             uploads.store_bytes(recording.read_bytes(), "from the notebook.wav", user="ada")]
    # each name the user gave is kept (jobs and outputs show it), the bytes are stored once: links to one file
    assert again == [first, first.parent / "copy.wav", first.parent / "from_the_notebook.wav"]
    assert {p.stat().st_ino for p in _files(upload_root)} == {first.stat().st_ino} and first.stat().st_nlink == 3
    assert first.stat().st_mtime > old + 86400, "reuse must count as use for the retention clock"
    assert [u.path.parent for u in uploads.user_uploads("ada")] == [first.parent]  # one entry per content


def test_different_bytes_and_users_get_their_own_files(tmp_path, upload_root):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    a.write_bytes(b"RIFF one")
    b.write_bytes(b"RIFF two")
    stored = {uploads.stage(a, user="ada"), uploads.stage(b, user="ada"), uploads.stage(a, user="bob")}
    assert len(stored) == 3 and len(_files(upload_root)) == 3
    for folder in (upload_root, upload_root / "ada", next((upload_root / "ada").iterdir())):
        assert folder.stat().st_mode & 0o777 == 0o700, folder
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in stored)


def test_user_uploads_lists_one_users_audio_newest_first(tmp_path, upload_root):
    older = uploads.store_bytes(b"RIFF older", "older.wav", user="ada")
    newer = uploads.store_bytes(b"RIFF newer", "newer.flac", user="ada")
    uploads.store_bytes(b"RIFF older", "older again.wav", user="ada")  # same content: still one entry
    uploads.store_bytes(b"RIFF other", "bobs.wav", user="bob")
    os.utime(older, (time.time() - 60, time.time() - 60))
    stray = upload_root / "ada" / "0123456789abcdef"
    stray.mkdir()
    (stray / "notes.txt").write_text("not audio")
    listed = uploads.user_uploads("ada")
    assert [u.path for u in listed] == [newer, older]
    assert [u.name for u in listed] == ["newer.flac", "older.wav"]
    assert listed[0].size == len(b"RIFF newer") and listed[0].mtime > listed[1].mtime
    assert uploads.user_uploads("nobody") == []


def test_the_current_user_is_the_default(tmp_path, upload_root, monkeypatch):
    monkeypatch.setenv("ECHONOTE_USER", "carol")
    stored = uploads.store_bytes(b"RIFF mine", "mine.wav")
    assert stored.parent.parent == upload_root / "carol"
    assert [u.path for u in uploads.user_uploads()] == [stored]


def test_hostile_names_stay_inside_the_users_folder(upload_root):
    stored = uploads.store_bytes(b"RIFF....", "../../etc/evil name.wav", user="../../root")
    assert stored.resolve().is_relative_to(upload_root) and stored.name == "evil_name.wav"
    with pytest.raises(ValueError, match="not an audio type"):
        uploads.store_bytes(b"#!/bin/sh", "run.sh")


def test_broker_down_stages_nothing_and_charges_nothing(tmp_path, upload_root, monkeypatch):
    """A down broker still copied the file into the uploads (the quota was refunded only after a send failed)."""
    env = isolated_env(tmp_path, ECHONOTE_UPLOAD_DIR=str(upload_root),
                       ECHONOTE_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert run_cli("quota", "set", "tester", "600", env=env).returncode == 0
    recording = tmp_path / "talk.wav"
    recording.write_bytes(b"RIFF" + bytes(2000))
    for command in (["diarize", str(recording)], ["transcribe", str(recording)]):
        result = run_cli(*command, env=env, timeout=60)
        assert result.returncode == 1 and "cannot reach the broker" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert _files(upload_root) == []
    monkeypatch.setenv("ECHONOTE_STATE_DIR", env["ECHONOTE_STATE_DIR"])
    [user] = [u for u in db.list_users() if u.name == "tester"]
    assert user.used_seconds_today == 0 and db.recent_jobs() == []
