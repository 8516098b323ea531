"""A web page in a local browser must not drive the stack through Flower.

Loopback is no trust boundary for a browser: any page can send a "simple"
cross-origin request (no preflight) to 127.0.0.1. These tests start a real
Flower and send exactly what such a page would, with http.client.
"""
from __future__ import annotations

import base64
import http.client
import json
import re
import time

import pytest
from support.cli_runs import run_cli
from support.environments import isolated_env

from echonote import config, names
from echonote.lab import flower_view
from echonote.ops import monitor
from echonote.ops.stack import Stack

EVIL = "http://evil.example"


@pytest.fixture()
def flower_stack(tmp_path, monkeypatch):
    """Redis, a worker and Flower from `echonote up` with no login configured (the default)."""
    env = isolated_env(tmp_path)
    env.pop("ECHONOTE_FLOWER_BASIC_AUTH", None)
    env.pop("FLOWER_UNAUTHENTICATED_API", None)
    for key in ("ECHONOTE_STATE_DIR", "ECHONOTE_REDIS_PORT", "ECHONOTE_FLOWER_PORT"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.delenv("ECHONOTE_FLOWER_BASIC_AUTH", raising=False)
    up = run_cli("up", "--role", "redis", "--role", "worker", "--role", "flower", env=env)
    assert up.returncode == 0, up.stderr + up.stdout
    try:
        yield env, up
    finally:
        run_cli("down", env=env)


def browser_request(env, method: str, path: str, body: str = "", auth: str | None = None) -> tuple[int, dict]:
    """What a page on another origin sends: Origin set, a text/plain body (no CORS preflight)."""
    conn = http.client.HTTPConnection("127.0.0.1", int(env["ECHONOTE_FLOWER_PORT"]), timeout=10)
    headers = {"Origin": EVIL, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}
    if method == "POST":
        headers["Content-Type"] = "text/plain"
    if auth:  # a browser that logged in to Flower before sends the cached login along
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    try:
        conn.request(method, path, body=body.encode() if body else None, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def test_cross_origin_requests_to_flower_are_refused_and_the_worker_survives(flower_stack):
    """Guards issue 10 item 1: Flower was started with FLOWER_UNAUTHENTICATED_API=true on loopback,
    answered ``Access-Control-Allow-Origin: *`` and skipped its XSRF check."""
    env, up = flower_stack
    stack = Stack(config.load(env))
    node = stack.worker_node("worker")
    called = run_cli("call", names.PING, "--kwargs", '{"payload": "secret transcript"}', "--wait", env=env)
    assert called.returncode == 0, called.stderr
    task_id = re.search(r"as task (\S+)", called.stderr).group(1)

    attempts = {
        "send-task diarize": ("POST", f"/api/task/send-task/{names.DIARIZE}",
                              json.dumps({"kwargs": {"audio_path": "/etc/passwd"}})),
        "shutdown worker": ("POST", f"/api/worker/shutdown/{node}", ""),
        "read a result": ("GET", f"/api/task/result/{task_id}", ""),
        "list workers": ("GET", "/api/workers", ""),
    }
    for what, (method, path, body) in attempts.items():
        status, headers = browser_request(env, method, path, body)
        assert status in (401, 403), f"{what}: answered {status}"
        assert "access-control-allow-origin" not in headers, f"{what}: CORS header {headers}"

    # Even a browser holding the login (the person opened Flower earlier) cannot POST cross-site.
    login = config.load(env).flower_basic_auth
    for what in ("send-task diarize", "shutdown worker"):
        method, path, body = attempts[what]
        status, headers = browser_request(env, method, path, body, auth=login)
        assert status == 403, f"{what} with a cached login: answered {status}"
        assert "access-control-allow-origin" not in headers

    time.sleep(1)
    assert stack.worker_ping("worker", timeout=3), "the worker must still answer after the attempts"
    assert "password in" in up.stdout and str(config.load(env).secret_file("flower_basic_auth")) in up.stdout
    status = run_cli("status", env=env)
    assert "password in" in status.stdout and login.split(":", 1)[1] not in status.stdout + up.stdout


def test_our_helpers_use_the_generated_login(flower_stack):
    """The notebooks' helpers and the CLI read the per-stack login from the state dir; it is 0600."""
    env, _ = flower_stack
    secret = config.load(env).secret_file("flower_basic_auth")
    assert secret.is_file() and secret.stat().st_mode & 0o777 == 0o600
    node = Stack(config.load(env)).worker_node("worker")
    deadline = time.monotonic() + 30
    while node not in (workers := monitor.flower_get("/api/workers?refresh=1")):
        assert time.monotonic() < deadline, workers
        time.sleep(0.5)
    sent = flower_view.send_task(names.PING, kwargs={"payload": "through flower"})["task-id"]
    deadline = time.monotonic() + 30
    while (answer := monitor.flower_get(f"/api/task/result/{sent}"))["state"] != "SUCCESS":
        assert time.monotonic() < deadline, answer
        time.sleep(0.5)
    assert answer["result"]["pong"] == "through flower"
