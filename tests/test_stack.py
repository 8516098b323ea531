"""The stack launcher with real processes: up, status, idempotent up, port conflicts, down, no orphans."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest
from support.cli_runs import run_cli
from support.environments import ROOT, isolated_env


def processes_under(state_dir) -> list[psutil.Process]:
    """Every live process whose command line or environment points at ``state_dir``."""
    found = []
    for proc in psutil.process_iter(["cmdline", "environ"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
            env = proc.info["environ"] or {}
        except psutil.Error:
            continue
        if str(state_dir) in cmd or env.get("ECHONOTE_STATE_DIR") == str(state_dir):
            if proc.pid != os.getpid():
                found.append(proc)
    return found


def wait_until_gone(state_dir, timeout=20.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = processes_under(state_dir)
        if not left:
            return []
        time.sleep(0.3)
    return processes_under(state_dir)


@pytest.mark.slow
def test_up_status_idempotent_down(tmp_path):
    env = isolated_env(tmp_path)
    state = tmp_path / "state"
    first = run_cli("up", env=env)
    assert first.returncode == 0, first.stderr + first.stdout
    try:
        status = run_cli("status", "--json", env=env)
        assert status.returncode == 0, status.stdout + status.stderr
        report = json.loads(status.stdout)
        roles = {p["role"]: p for p in report["processes"]}
        assert set(roles) == {"redis", "worker", "beat", "flower"} and all(p["alive"] for p in roles.values())
        assert report["broker"]["ok"]
        [worker] = report["workers"]
        assert {"default", "diarization"} <= set(worker["queues"])
        assert "echonote.reset_daily_quotas" in worker["registered"]
        assert report["beat_schedule"][0]["next_run"].endswith("T00:00:00+00:00")

        pids = {role: p["pid"] for role, p in roles.items()}
        second = run_cli("up", env=env)
        assert second.returncode == 0, second.stderr
        again = {p["role"]: p["pid"] for p in json.loads(run_cli("status", "--json", env=env).stdout)["processes"]}
        assert again == pids, "a second `up` must not start anything new"
    finally:
        down = run_cli("down", env=env)
    assert down.returncode == 0 and "redis" in down.stdout
    assert wait_until_gone(state) == []
    status = run_cli("status", env=env)
    assert status.returncode == 1 and "unreachable" in status.stdout
    assert "Traceback" not in status.stdout + status.stderr


def test_port_taken_gives_a_clear_error(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = isolated_env(tmp_path, ECHONOTE_REDIS_PORT=str(port))
        result = run_cli("up", env=env)
    assert result.returncode == 1
    assert f"port {port} is already taken" in result.stderr and "ECHONOTE_REDIS_PORT" in result.stderr
    assert "Traceback" not in result.stderr
    assert processes_under(tmp_path / "state") == []


def test_down_stops_only_what_up_started(tmp_path):
    """A process we did not start, even one with a stale pid file pointing at it, survives `down`."""
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run_dir = tmp_path / "state" / "run"
        run_dir.mkdir(parents=True)
        # right pid, wrong start time: what a reused pid looks like
        (run_dir / "worker.pid").write_text(f"{bystander.pid} 12345.0\n")
        result = run_cli("down", env=isolated_env(tmp_path))
        assert result.returncode == 0 and "nothing was running" in result.stdout
        assert bystander.poll() is None
        assert not (run_dir / "worker.pid").exists(), "stale pid file should be cleaned up"
    finally:
        bystander.kill()


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["exits", "killed"])
def test_no_orphans_when_the_owning_python_process_ends(tmp_path, how):
    """Notebook kernels die in every way; the roles they started must die with them."""
    env = isolated_env(tmp_path)
    code = (
        "import sys, time; from echonote.ops.stack import Stack; "
        "Stack(detach=False).up(('redis', 'worker', 'beat')); print('ready', flush=True); time.sleep(120)"
    )
    owner = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert owner.stdout.readline().strip() == "ready"
        assert len(processes_under(tmp_path / "state")) >= 4  # redis, worker + pool, beat
        owner.send_signal(how)
        owner.wait(timeout=30)
    finally:
        owner.kill()
    assert wait_until_gone(tmp_path / "state", timeout=30) == []
