"""The stack on a shared machine, with real processes: what another local user can do, racing `up`s, two beats.

Another local user is ``nobody`` (``runuser``); those tests skip where the
machine has no such user or the tests do not run as root.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest
import redis
from support.cli_runs import run_cli
from support.environments import ROOT, isolated_env

from echonote import config, names
from echonote.client import uploads
from echonote.ops import monitor
from echonote.ops.stack import DISABLED_REDIS_COMMANDS, Stack

# Run as ``nobody``: try to read each path, then speak to Redis without the password.
NOBODY_PROBE = r"""
import json, os, socket, sys
port, paths = int(sys.argv[1]), sys.argv[2:]
seen = {}
for path in paths:
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            open(path, "rb").read(1)
        seen[path] = "read"
    except OSError as exc:
        seen[path] = type(exc).__name__
replies = {}
with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
    stream = sock.makefile("rb")
    for command in ("PING", "KEYS *", "CONFIG SET dir /tmp", "FLUSHALL", "GET echonote:beat-lock"):
        sock.sendall(command.encode() + b"\r\n")
        replies[command] = stream.readline().decode().strip()
print(json.dumps({"files": seen, "redis": replies}))
"""


def can_switch_to_nobody() -> bool:
    return os.geteuid() == 0 and shutil.which("runuser") is not None and Path("/usr/bin/python3").exists() and (
        subprocess.run(["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", "pass"]).returncode == 0)


def open_base_dir() -> Path:
    """A directory any local user may enter (as /srv or a home directory can be), unlike pytest's tmp_path."""
    base = Path(tempfile.mkdtemp(prefix="echonote-shared-"))
    base.chmod(0o755)
    return base


@pytest.mark.skipif(not can_switch_to_nobody(), reason="needs root and a `nobody` user to test a second local user")
def test_another_local_user_reads_nothing_and_redis_refuses_it():
    """Guards issue 10 item 3: no Redis password by default, CONFIG/FLUSHALL open, state and results 0644/0755."""
    base = open_base_dir()
    env = isolated_env(base, ECHONOTE_UPLOAD_DIR=str(base / "uploads"), ECHONOTE_RESULTS_DIR=str(base / "results"))
    env.pop("ECHONOTE_REDIS_PASSWORD", None)
    state = base / "state"
    try:
        assert run_cli("up", "--role", "redis", "--role", "worker", env=env).returncode == 0
        assert run_cli("quota", "set", "alice", "600", env=env).returncode == 0  # creates the jobs database
        called = run_cli("call", names.PING, "--kwargs", '{"payload": "private words"}', "--wait", env=env)
        assert called.returncode == 0, called.stderr
        (base / "results" / "some-task").mkdir(parents=True)
        (base / "results" / "some-task" / "result.json").write_text('{"text": "private words"}')

        for path in (state, base / "uploads", base / "results", state / "logs", state / "run", state / "redis"):
            assert path.stat().st_mode & 0o777 == 0o700, f"{path} is {oct(path.stat().st_mode & 0o777)}"
        role_files = [*state.glob("logs/*.log"), *state.glob("run/*.pid"), state / "redis.conf",
                      state / "redis-password", *state.glob("redis/**/*.aof")]
        for path in role_files:
            assert path.stat().st_mode & 0o777 == 0o600, f"{path} is {oct(path.stat().st_mode & 0o777)}"

        targets = [state, state / "echonote.db", state / "logs" / "worker.log", state / "redis-password",
                   base / "results", base / "results" / "some-task" / "result.json", base / "uploads"]
        probe = subprocess.run(["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", NOBODY_PROBE,
                                env["ECHONOTE_REDIS_PORT"], *map(str, targets)],
                               capture_output=True, text=True, timeout=30, cwd="/")
        assert probe.returncode == 0, probe.stderr
        seen = json.loads(probe.stdout)
        assert set(seen["files"].values()) == {"PermissionError"}, seen["files"]
        for command, reply in seen["redis"].items():  # disabled commands are unknown even before AUTH
            assert reply.startswith(("-NOAUTH", "-ERR unknown command")), f"{command} as nobody: {reply}"
        assert seen["redis"]["PING"].startswith("-NOAUTH") and seen["redis"]["KEYS *"].startswith("-NOAUTH")

        # With the password, the dangerous commands are gone too.
        client = redis.Redis.from_url(config.load(env).effective_broker_url)
        try:
            assert client.ping()
            for command in (("CONFIG", "SET", "dir", "/tmp"), ("FLUSHALL",), ("FLUSHDB",), ("DEBUG", "SLEEP", "0")):
                with pytest.raises(redis.ResponseError, match="unknown command"):
                    client.execute_command(*command)
        finally:
            client.close()
        assert set(DISABLED_REDIS_COMMANDS) >= {"CONFIG", "FLUSHALL", "FLUSHDB", "DEBUG"}
    finally:
        run_cli("down", env=env)
        shutil.rmtree(base, ignore_errors=True)


def test_files_a_client_creates_are_private(tmp_path, monkeypatch):
    """Guards issue 10 item 3 for clients: the CLI and notebooks created the jobs database and every upload
    0644 (their umask), inside 0700 folders only because a stack had been started first."""
    env = isolated_env(tmp_path, ECHONOTE_UPLOAD_DIR=str(tmp_path / "uploads"))
    monkeypatch.setenv("ECHONOTE_UPLOAD_DIR", env["ECHONOTE_UPLOAD_DIR"])
    recording = tmp_path / "talk.wav"
    recording.write_bytes(b"RIFF audio")
    umask = os.umask(0o022)  # a usual login umask, inherited by the CLI below
    try:
        assert run_cli("quota", "set", "alice", "600", env=env).returncode == 0  # creates the jobs database
        created = [uploads.stage(recording), uploads.store_bytes(b"RIFF audio", "notebook upload.wav")]
    finally:
        os.umask(umask)
    database = tmp_path / "state" / "echonote.db"
    created += [path for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")) if path.exists()]
    assert database in created and all(path.is_relative_to(tmp_path / "uploads") for path in created[:2])
    for path in created:
        assert path.stat().st_mode & 0o777 == 0o600, f"{path} is {oct(path.stat().st_mode & 0o777)}"
    assert (tmp_path / "uploads").stat().st_mode & 0o777 == 0o700


def test_a_password_with_at_hash_and_space_works_and_never_shows(tmp_path):
    """Guards issue 10 item 11: '@'/'#' broke the URL (and leaked through the redaction); a space stopped Redis."""
    password = 'p@ss #word x"\\'
    env = isolated_env(tmp_path, ECHONOTE_REDIS_PASSWORD=password)
    try:
        up = run_cli("up", "--role", "redis", "--role", "worker", env=env)
        assert up.returncode == 0, up.stderr + up.stdout
        called = run_cli("call", names.PING, "--kwargs", '{"payload": "pw"}', "--wait", env=env)
        assert called.returncode == 0 and '"pong": "pw"' in called.stdout, called.stderr
        status = run_cli("status", "--json", env=env)
        assert json.loads(status.stdout)["broker"] == {
            "url": f"redis://***@127.0.0.1:{env['ECHONOTE_REDIS_PORT']}/0", "ok": True, "message": "reachable"}
        shown = up.stdout + up.stderr + called.stdout + called.stderr + status.stdout + status.stderr
        shown += "".join(p.read_text(errors="replace") for p in (tmp_path / "state" / "logs").glob("*.log"))
        for piece in ("p@ss", "ss #w", "#word", "word x", "ss%20"):
            assert piece not in shown, f"part of the password ({piece!r}) is visible"
        assert redis.Redis(port=int(env["ECHONOTE_REDIS_PORT"]), password=password).ping()
    finally:
        run_cli("down", env=env)
    assert config.redact_url("redis://:p@ss #word@host:1/0") == "redis://***@host:1/0"


def worker_main_processes(state: Path) -> list[psutil.Process]:
    """Celery worker main processes (process-group leaders) started for ``state``."""
    found = []
    for proc in psutil.process_iter(["cmdline", "environ"]):
        try:
            cmd = proc.info["cmdline"] or []
            if "worker" in cmd and "celery" in " ".join(cmd) and (proc.info["environ"] or {}).get(
                    "ECHONOTE_STATE_DIR") == str(state) and os.getpgid(proc.pid) == proc.pid:
                found.append(proc)
        except (psutil.Error, ProcessLookupError):
            continue
    return found


def test_concurrent_ups_start_one_worker_and_status_misses_the_beat(tmp_path):
    """Guards issue 10 items 8 and 7 (status): `up`s at once started two `worker@host` process groups (or
    failed on the port the other had just taken), and a stack without beat looked healthy."""
    env = isolated_env(tmp_path)
    state = tmp_path / "state"
    ups = [subprocess.Popen([sys.executable, "-m", "echonote", "up", "--role", "redis", "--role", "worker"],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for _ in range(3)]
    try:
        outputs = [p.communicate(timeout=300) for p in ups]
        assert [p.returncode for p in ups] == [0, 0, 0], outputs
        [worker] = worker_main_processes(state)
        stack = Stack(config.load(env))
        assert stack.process("worker").pid == worker.pid, "the pid file must name the one worker"
        node = stack.worker_node("worker")
        assert node.startswith("worker@") and node != f"worker@{stack.hostname}", "a unique node name per start"
        assert f"-n {node}" in " ".join(worker.cmdline())

        status = run_cli("status", "--json", env=env)
        report = json.loads(status.stdout)
        assert status.returncode == 3, status.stdout + status.stderr
        assert [w["node"] for w in report["workers"]] == [node]
        [problem] = report["problems"]
        assert problem.startswith("no beat running") and "echonote up --role beat" in problem

        assert run_cli("up", "--role", "beat", env=env).returncode == 0
        status = run_cli("status", "--json", env=env)
        assert status.returncode == 0, status.stdout
        assert json.loads(status.stdout)["beat"]["holder"]
    finally:
        run_cli("down", env=env)


def beat_log_sends(stack: Stack, role: str) -> int:
    return stack.log_since_start(role).count("Sending due task reset-daily-quotas")


def test_two_beats_on_one_schedule_file_hand_over_without_corrupting_it(tmp_path, monkeypatch):
    """Guards issue 10 item 7: two beats shared one shelve (both wrote it, at start-up and every sync), and the
    standby died with UnpicklingError on takeover. Now only the lock holder reads or writes the file."""
    env = isolated_env(tmp_path, ECHONOTE_WORKSHOP_SCHEDULE_SECONDS="1", ECHONOTE_BEAT_LOCK_SECONDS="3")
    for key, value in env.items():
        if key.startswith("ECHONOTE_"):
            monkeypatch.setenv(key, value)
    stack = Stack(config.load(), detach=True)  # detached: a child's parent-death signal follows the starting thread
    schedule = stack.state / "celerybeat-schedule"
    try:
        stack.start_redis()
        together = [threading.Thread(target=stack.spawn_beat, args=(role, schedule)) for role in ("beat-a", "beat-b")]
        for thread in together:  # same file, started together: a concurrent `up`, or `--scale beat=2`
            thread.start()
        for thread in together:
            thread.join()
        time.sleep(5)
        sends = {role: beat_log_sends(stack, role) for role in ("beat-a", "beat-b")}
        assert min(sends.values()) == 0 and max(sends.values()) >= 3, sends
        holder = max(sends, key=sends.get)
        standby = "beat-b" if holder == "beat-a" else "beat-a"
        holder_token = monitor.beat_lock_holder()
        assert json.loads(schedule.read_text())["holder"] == holder_token, "only the lock holder writes the file"

        stack.process(holder).send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 20
        while beat_log_sends(stack, standby) < 3:
            assert stack.process(standby), f"the standby died:\n{stack.log_tail(standby, 30)}"
            assert time.monotonic() < deadline, stack.log_tail(standby, 30)
            time.sleep(0.3)
        log = stack.log_since_start(standby)
        assert "Traceback" not in log and "Unpickling" not in log and "corrupted" not in log, log[-2000:]
        stored = json.loads(schedule.read_text())
        assert stored["holder"] == monitor.beat_lock_holder() != holder_token
        assert stored["entries"]["reset-daily-quotas"]["total_run_count"] >= sends[holder], stored
    finally:
        stack.down()
