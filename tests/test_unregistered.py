"""A worker without the task code receives a name it doesn't know: the classic error, and its fix."""
from __future__ import annotations

import json
import time

import pytest
from support.cli_runs import run_cli
from support.environments import isolated_env

from echonote import config
from echonote.ops.stack import Stack


@pytest.mark.slow
def test_worker_without_include_reports_unregistered_and_status_explains(tmp_path, monkeypatch):
    env = isolated_env(tmp_path)
    for key in ("ECHONOTE_STATE_DIR", "ECHONOTE_REDIS_PORT", "ECHONOTE_FLOWER_PORT"):
        monkeypatch.setenv(key, env[key])
    stack = Stack(config.load(), detach=False)
    try:
        stack.start_redis()
        stack.start_worker("worker", include=None)  # no --include: the worker has no echonote code
        called = run_cli("call", "echonote.ping", "--wait", "--timeout", "20", env=env)
        assert called.returncode == 1
        assert "no running worker has registered 'echonote.ping'" in called.stderr
        assert "NotRegistered" in called.stderr and "--include=echonote.worker.tasks" in called.stderr

        deadline = time.monotonic() + 10
        while "Received unregistered task of type 'echonote.ping'" not in stack.log_since_start("worker"):
            assert time.monotonic() < deadline, stack.log_tail("worker")
            time.sleep(0.2)

        status = run_cli("status", "--json", env=env)
        assert status.returncode == 3
        problems = " ".join(json.loads(status.stdout)["problems"])
        assert "without the task code" in problems and "--include=echonote.worker.tasks" in problems
        assert "Received unregistered task" in problems
    finally:
        stack.down()
