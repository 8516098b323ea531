"""A room: `echonote lab reset` between groups, and `echonote lab participant N` for several stacks on one host.

Real processes throughout: a private Redis (and beat) per stack, the CLI as a
subprocess, a queue that really holds the previous group's tasks.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

from support.cli_runs import run_cli
from support.environments import ROOT, isolated_env

from echonote.lab.participants import PORT_BASES
from echonote.ops.stack import port_in_use

PREVIOUS_GROUP = """
from echonote import client, config, names
from echonote.client import uploads
from echonote.lab import serve
client.submit(names.PING, {"payload": 1}, kind="ping", audio_seconds=600, user="alice")  # no worker: stays queued
uploads.store_bytes(b"RIFF" + bytes(400), "alices_meeting.wav", user="alice")
results = config.load().path("results_dir") / "job-1"
results.mkdir(parents=True)
(results / "meeting.rttm").write_text("SPEAKER meeting 1 0.0 1.0 <NA> <NA> A <NA> <NA>\\n")
serve.prepare(user="alice")
"""

PROBE = """
import json, redis
from echonote import config, db
from echonote.lab import serve
cfg = config.load()
queued = redis.Redis.from_url(cfg.effective_broker_url).llen("default")
alice = [u for u in db.list_users() if u.name == "alice"]
print(json.dumps({
    "queued": queued, "jobs": len(db.recent_jobs(100)), "alice_used": alice[0].used_seconds_today if alice else None,
    "uploads": sorted(str(p) for p in cfg.path("upload_dir").rglob("*") if p.is_file()),
    "results": sorted(str(p) for p in cfg.path("results_dir").rglob("*")),
    "notebooks": serve.folders(cfg, "alice").notebooks.exists(),
    "upload_root_kept": cfg.path("upload_dir").is_dir(),
}))
"""


def _python(code: str, env: dict) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def _probe(env: dict) -> dict:
    return json.loads(_python(PROBE, env).stdout)


def _redis_pid(env: dict) -> int:
    from pathlib import Path

    return int((Path(env["ECHONOTE_STATE_DIR"]) / "run" / "redis.pid").read_text().split()[0])


def test_reset_asks_then_empties_queue_jobs_usage_uploads_results_and_copies_and_stops_nothing(tmp_path):
    env = isolated_env(tmp_path, ECHONOTE_DATA_DIR=str(tmp_path / "data"),
                       ECHONOTE_UPLOAD_DIR=str(tmp_path / "data" / "uploads"),
                       ECHONOTE_RESULTS_DIR=str(tmp_path / "results"))
    assert run_cli("up", "--role", "redis", env=env).returncode == 0
    try:
        redis_pid = _redis_pid(env)
        _python(PREVIOUS_GROUP, env)
        before = _probe(env)
        assert before["queued"] == 1 and before["jobs"] == 1 and before["alice_used"] == 600
        assert before["uploads"] and before["results"] and before["notebooks"]

        declined = subprocess.run([sys.executable, "-m", "echonote", "lab", "reset"], input="n\n", env=env,
                                  cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert declined.returncode != 0 and "Reset the workshop?" in declined.stdout
        assert _probe(env) == before  # nothing touched without a yes

        done = run_cli("lab", "reset", "--yes", env=env)
        assert done.returncode == 0, done.stderr
        assert "queued tasks purged: default 1" in done.stdout and "job rows deleted: 1" in done.stdout, done.stdout
        after = _probe(env)
        assert after["queued"] == 0 and after["jobs"] == 0 and after["alice_used"] == 0
        assert after["uploads"] == [] and after["results"] == [] and not after["notebooks"]
        assert after["upload_root_kept"]
        assert _redis_pid(env) == redis_pid  # the stack keeps running
        assert run_cli("status", "--json", env=env).returncode in (0, 3)  # broker still answers (no worker: 3)
    finally:
        run_cli("down", env=env)


def _free_participant() -> int:
    return next(n for n in range(2, 99) if not any(port_in_use(base + n) for base in PORT_BASES.values()))


def _participant_env(number: int, base) -> dict[str, str]:
    """The environment a participant gets after `eval "$(echonote lab participant N)"`."""
    printed = run_cli("lab", "participant", str(number), "--base", str(base))
    assert printed.returncode == 0, printed.stderr
    env = dict(os.environ)
    for line in printed.stdout.splitlines():
        if line.startswith("unset "):
            for name in line.split()[1:]:
                env.pop(name, None)
        elif line.startswith("export "):
            name, value = line[len("export "):].split("=", 1)
            env[name] = value
    return env


def test_a_participant_runs_a_stack_of_its_own_beside_the_first(stack, tmp_path):
    number = _free_participant()
    env = _participant_env(number, tmp_path / "room")
    assert env["ECHONOTE_HOME"] == str((tmp_path / "room" / f"participant-{number}").resolve())
    assert "ECHONOTE_STATE_DIR" not in env and int(env["ECHONOTE_REDIS_PORT"]) != stack.cfg.redis_port
    assert {env["ECHONOTE_REDIS_PORT"], env["ECHONOTE_FLOWER_PORT"], env["ECHONOTE_LAB_PORT"],
            env["ECHONOTE_STORAGE_PORT"]} == {str(base + number) for base in PORT_BASES.values()}

    up = run_cli("up", "--role", "redis", "--role", "beat", env=env)
    try:
        assert up.returncode == 0, up.stderr
        theirs = json.loads(run_cli("status", "--json", env=env).stdout)
        assert theirs["broker"]["ok"] and theirs["beat"]["holder"]
        their_pids = {p["pid"] for p in theirs["processes"]}
        beat = next(p for p in theirs["processes"] if p["role"] == "beat")
        assert env["ECHONOTE_HOME"] in beat["command"]  # its schedule file sits in the participant's state
        assert (tmp_path / "room" / f"participant-{number}" / ".state" / "run" / "redis.pid").is_file()

        ours = json.loads(run_cli("status", "--json").stdout)
        assert ours["broker"]["ok"] and not their_pids & {p["pid"] for p in ours["processes"]}
    finally:
        down = run_cli("down", env=env)
    assert "redis" in down.stdout and "beat" in down.stdout
    assert stack.redis_ping() and stack.process("redis") is not None  # the first stack never noticed


def test_reset_refuses_a_folder_setting_that_points_too_wide_before_deleting_anything(tmp_path):
    kept = tmp_path / "results" / "job-1" / "meeting.rttm"
    kept.parent.mkdir(parents=True)
    kept.write_text("kept")
    env = isolated_env(tmp_path, ECHONOTE_RESULTS_DIR=str(tmp_path / "results"), ECHONOTE_UPLOAD_DIR="/")
    done = run_cli("lab", "reset", "--yes", env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: refusing to empty /") and len(done.stderr.strip().splitlines()) == 1
    assert kept.read_text() == "kept"
