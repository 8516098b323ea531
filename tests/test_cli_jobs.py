"""`--no-wait` prints a command that follows the job; `echonote jobs` and `echonote job ID` read the job
table and the result backend (before, a `--no-wait` job id could be followed by no command)."""
from __future__ import annotations

import json
import shlex

import pytest
from support.cli_runs import echonote, follow_commands, user_copy

from echonote.results import samples

pytest.importorskip("pyannote.audio", reason="the worker extra is not installed")
# the first test that follows the shared job pays for a diarization through the stack
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def submitted(stack, tmp_path_factory):
    """A diarization sent with --no-wait, and what it printed."""
    folder = tmp_path_factory.mktemp("user")
    audio = user_copy(samples.ensure_pyannote_sample()["wav"], folder, "meeting_room.wav")
    sent = echonote("diarize", str(audio), "--no-wait", cwd=folder, timeout=120)
    assert sent.returncode == 0, sent.stderr
    [command] = follow_commands(sent.stdout)
    return {"folder": folder, "command": command, "job_id": command.split()[2]}


def test_no_wait_prints_the_command_that_follows_the_job(submitted):
    from echonote import db

    running = db.get_job(submitted["job_id"]).status not in db.FINISHED_STATES  # tests run in any order
    followed = echonote(*shlex.split(submitted["command"])[1:], cwd=submitted["folder"], timeout=600)
    assert followed.returncode == 0, followed.stderr
    assert "status:    succeeded" in followed.stdout and "meeting_room.rttm" in followed.stdout
    if running:
        assert "100.0%" in followed.stderr, "--wait draws the progress display while the job runs"


def test_job_prints_rttm_json_and_copies_files(submitted, tmp_path):
    job_id, folder = submitted["job_id"], submitted["folder"]
    assert echonote("job", job_id, "--wait", cwd=folder).returncode == 0
    rttm = echonote("job", job_id, "--rttm", cwd=folder)
    assert rttm.returncode == 0 and rttm.stdout.startswith("SPEAKER meeting_room 1 "), rttm.stdout + rttm.stderr
    as_json = echonote("job", job_id, "--json", cwd=folder)
    result = json.loads(as_json.stdout)
    assert result["num_speakers"] == 2 and len(result["segments"]) == rttm.stdout.count("SPEAKER ")
    copied = echonote("job", job_id, "--out", str(tmp_path / "out"), cwd=folder)
    assert copied.returncode == 0, copied.stderr
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["meeting_room.json", "meeting_room.rttm"]
    assert all(f"wrote {tmp_path / 'out' / name}" in copied.stdout for name in written)


def test_jobs_lists_and_filters(submitted):
    job_id, folder = submitted["job_id"], submitted["folder"]
    assert echonote("job", job_id, "--wait", cwd=folder).returncode == 0
    table = echonote("jobs", "--limit", "10000", cwd=folder)  # other tests in this session add jobs too
    assert table.returncode == 0 and job_id in table.stdout and "meeting_room.wav" in table.stdout
    mine = json.loads(echonote("jobs", "--user", "tester", "--status", "succeeded", "--json", cwd=folder).stdout)
    assert job_id in [row["id"] for row in mine] and {row["user"] for row in mine} == {"tester"}
    assert {row["status"] for row in mine} == {"succeeded"}
    none = json.loads(echonote("jobs", "--user", "nobody", "--json", cwd=folder).stdout)
    assert none == []
    assert len(json.loads(echonote("jobs", "--limit", "1", "--json", cwd=folder).stdout)) == 1


def test_unknown_job_is_one_clear_line(stack, tmp_path):
    result = echonote("job", "no-such-job", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "no job 'no-such-job'" in result.stderr and "echonote jobs" in result.stderr


def test_a_failed_job_shows_its_error(stack, tmp_path):
    audio = tmp_path / "not audio.wav"
    audio.write_text("this is text, not a recording\n" * 50)
    sent = echonote("diarize", str(audio), "--no-wait", cwd=tmp_path, timeout=120)
    [command] = follow_commands(sent.stdout)
    followed = echonote(*shlex.split(command)[1:], cwd=tmp_path)
    assert followed.returncode == 1 and "status:    failed" in followed.stdout, followed.stdout + followed.stderr
    assert "failed:" in followed.stderr and "Traceback" not in followed.stderr
    missing = echonote("job", command.split()[2], "--rttm", cwd=tmp_path)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
