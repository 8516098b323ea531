"""Security with real processes: JSON only, Flower's binding, Redis's password, secrets kept out of sight."""
from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.request
import uuid

import psutil
import pytest
from support.cli_runs import run_cli
from support.environments import isolated_env

from echonote import client, config, names
from echonote.client import uploads


class _Tripwire:
    """Unpickling this creates a file: proof the worker never unpickled the message."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickled_message_is_refused_and_the_worker_survives(stack, tmp_path):
    marker = tmp_path / "unpickled"
    task_id = str(uuid.uuid4())
    app = client.celery_app()
    with app.connection_for_write() as conn:
        producer = conn.Producer(serializer="pickle")
        producer.publish(
            ((_Tripwire(str(marker)),), {}, {}),
            routing_key="default", exchange="", declare=[],
            headers={"lang": "py", "task": names.PING, "id": task_id, "root_id": task_id, "retries": 0},
        )
    deadline = time.monotonic() + 20
    while "untrusted content" not in stack.log_since_start("worker").lower():
        assert time.monotonic() < deadline, stack.log_tail("worker", 40)
        time.sleep(0.2)
    time.sleep(1)
    assert not marker.exists(), "the worker unpickled an untrusted message"
    assert app.AsyncResult(task_id).state == "PENDING"
    assert stack.worker_ping("worker")
    assert client.wait(client.submit(names.PING, {"payload": "after"}).task_id, timeout=30)["pong"] == "after"


def test_flower_refuses_to_listen_beyond_loopback_without_auth(tmp_path):
    env = isolated_env(tmp_path, ECHONOTE_FLOWER_ADDRESS="0.0.0.0")
    result = run_cli("up", "--role", "flower", env=env)
    assert result.returncode == 1
    assert "refusing to bind Flower to 0.0.0.0 without authentication" in result.stderr
    assert "ECHONOTE_FLOWER_BASIC_AUTH" in result.stderr


@pytest.mark.slow
def test_redis_password_and_flower_auth_work_end_to_end_and_stay_secret(tmp_path):
    password, flower_auth, token = "s3cret-redis-pw", "admin:fl0wer-pw", "hf_never_show_this_token"
    env = isolated_env(tmp_path, ECHONOTE_REDIS_PASSWORD=password, ECHONOTE_FLOWER_BASIC_AUTH=flower_auth,
                       ECHONOTE_HF_TOKEN=token)
    try:
        assert run_cli("up", env=env).returncode == 0
        called = run_cli("call", names.PING, "--kwargs", '{"payload": "pw"}', "--wait", env=env)
        assert called.returncode == 0 and '"pong": "pw"' in called.stdout, called.stderr

        import redis

        port = int(env["ECHONOTE_REDIS_PORT"])
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(port=port).ping()

        flower = f"http://127.0.0.1:{env['ECHONOTE_FLOWER_PORT']}/api/workers"
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(flower, timeout=5)
        assert denied.value.code == 401
        login = "Basic " + base64.b64encode(flower_auth.encode()).decode()
        request = urllib.request.Request(flower, headers={"Authorization": login})
        assert urllib.request.urlopen(request, timeout=5).status == 200

        status = run_cli("status", "--json", env=env)
        seen = [status.stdout, status.stderr, called.stdout, called.stderr]
        seen += [p.read_text(errors="replace") for p in (tmp_path / "state" / "logs").glob("*.log")]
        seen += [" ".join(p.cmdline()) for p in psutil.process_iter() if _safe_cmdline(p)]
        for secret in (password, flower_auth.split(":")[1], token):
            leaks = [text[:200] for text in seen if secret in text]
            assert not leaks, f"secret {secret[:4]}... visible in: {leaks}"
        assert json.loads(status.stdout)["broker"]["url"].startswith("redis://***@")
    finally:
        run_cli("down", env=env)


def _safe_cmdline(proc) -> bool:
    try:
        return bool(proc.cmdline())
    except psutil.Error:
        return False


def test_uploads_get_generated_names_inside_the_upload_root(tmp_path, monkeypatch):
    monkeypatch.setenv("ECHONOTE_UPLOAD_DIR", str(tmp_path / "uploads"))
    stored = uploads.store_bytes(b"RIFF....", "../../etc/evil name.wav")
    root = config.load().path("upload_dir")
    assert stored.parent.parent.parent == root and stored.suffix == ".wav"
    assert stored.name != "evil name.wav" and ".." not in stored.name and " " not in stored.name
    with pytest.raises(ValueError, match="not an audio type"):
        uploads.store_bytes(b"#!/bin/sh", "run.sh")
    with pytest.raises(ValueError, match="empty"):
        uploads.store_bytes(b"", "empty.wav")
