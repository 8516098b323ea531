"""Notebook 06's helpers: a worker environment that names none of the client's folders, and the broker
weighing of a job message (a URI vs the audio's bytes), on the session's real Redis."""
from __future__ import annotations

import os

from echonote import config
from echonote.lab import message_weight, other_machine


def test_the_other_machine_is_given_the_broker_and_the_store_and_none_of_our_folders(tmp_path, monkeypatch):
    client_home = tmp_path / "client"
    for key in ("state_dir", "data_dir", "upload_dir", "results_dir", "model_cache"):
        monkeypatch.setenv(config.BY_KEY[key].env, str(client_home / key))
    monkeypatch.setenv("ECHONOTE_DATABASE_URL", f"sqlite:///{client_home / 'jobs.db'}")
    monkeypatch.setenv("ECHONOTE_STORAGE_URL", "s3://echonote/room")
    monkeypatch.setenv("ECHONOTE_STORAGE_ENDPOINT", "http://store.example:9000")
    monkeypatch.setenv("ECHONOTE_STORAGE_ACCESS_KEY", "room-key")
    monkeypatch.setenv("ECHONOTE_STORAGE_SECRET_KEY", "room-secret")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(client_home / "aws-credentials"))
    cfg = config.load()

    env = other_machine.remote_environ(tmp_path / "remote", cfg)

    leaks = {k: v for k, v in env.items() if str(client_home) in v}
    assert not leaks, f"the other machine was handed the client's folders: {sorted(leaks)}"
    remote = config.load(env)
    for key in ("state_dir", "data_dir", "upload_dir", "results_dir"):
        assert remote.path(key).is_relative_to(tmp_path / "remote"), key
    assert remote.effective_database_url.startswith(f"sqlite:///{tmp_path / 'remote'}")  # its own database
    assert remote.effective_broker_url == cfg.effective_broker_url  # the same broker, password included
    assert remote.effective_result_backend == cfg.effective_result_backend
    assert (remote.storage_url, remote.storage_endpoint) == ("s3://echonote/room", "http://store.example:9000")
    assert (remote.storage_access_key, remote.storage_secret_key) == ("room-key", "room-secret")
    assert env["HOME"] == str(tmp_path / "remote" / "home") and "AWS_SHARED_CREDENTIALS_FILE" not in env


def test_the_other_machine_runs_from_its_own_working_directory(tmp_path):
    machine = other_machine.OtherMachine(tmp_path / "remote")
    argv = machine.celery_argv("worker")
    assert argv[:2] == ["env", f"--chdir={tmp_path / 'remote' / 'home'}"] and argv[-1] == "worker"
    assert machine.state == tmp_path / "remote" / "state" and machine.child_env()["HOME"].startswith(str(tmp_path))


def test_a_uri_message_weighs_a_kilobyte_and_the_bytes_one_the_whole_file(stack, tmp_path):
    audio = tmp_path / "meeting.wav"
    audio.write_bytes(os.urandom(300_000))  # only weighed, never decoded
    uri_kwargs = {"audio_path": "s3://echonote/uploads/tester/0123456789abcdef/meeting.wav",
                  "source_name": "meeting.wav"}

    uri, heavy = message_weight.uri_versus_bytes(audio, uri_kwargs, repeats=2)

    assert uri.kwargs_bytes < 200 and uri.message_bytes < 2048 and uri.key_memory_bytes < 4096
    assert heavy.kwargs_bytes > 300_000 * 4 / 3  # base64 of the file
    assert heavy.message_bytes > heavy.kwargs_bytes and heavy.key_memory_bytes >= heavy.message_bytes
    assert heavy.used_memory_delta > 300_000
    assert 0 < uri.publish_ms <= uri.round_trip_ms and 0 < heavy.publish_ms <= heavy.round_trip_ms
    assert not _redis(stack).keys("weigh-*")  # every queue it made is gone again


def test_captured_kwargs_are_what_was_sent(stack):
    from echonote import names
    from echonote.celery_app import app

    with message_weight.captured_kwargs(names.PING) as sent:
        app.send_task(names.PING, kwargs={"payload": "x"}).get(timeout=30)
        app.send_task(names.DIARIZE, kwargs={"audio_path": "elsewhere"}, queue="nobody-consumes-this").forget()
    assert sent == [{"payload": "x"}]
    _redis(stack).delete("nobody-consumes-this")


def _redis(stack):
    import redis

    return redis.Redis.from_url(stack.cfg.effective_broker_url)
