"""Inputs the CLI used to crash on or silently ignore: each gets one clear line and exit code 2."""
from __future__ import annotations

import pytest
from support.cli_runs import run_cli
from support.environments import isolated_env


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_quota_set_refuses_non_finite_seconds(tmp_path, value):
    """`quota set USER nan` printed a traceback and `inf` was stored as the quota."""
    result = run_cli("quota", "set", "ada", "--", value, env=isolated_env(tmp_path))
    assert result.returncode == 2, result.stderr
    assert "finite number of seconds" in result.stderr and "Traceback" not in result.stderr
    shown = run_cli("quota", "show", env=isolated_env(tmp_path))
    assert "ada" not in shown.stdout, "nothing may be stored for a refused value"


def test_call_refuses_an_integer_too_long_to_read(tmp_path):
    """A 5,000-digit integer in --kwargs ended in Python's raw ValueError traceback."""
    huge = "9" * 5000
    result = run_cli("call", "echonote.ping", "--kwargs", f'{{"payload": {huge}}}', env=isolated_env(tmp_path))
    assert result.returncode == 2, result.stderr
    assert "kwargs is JSON that cannot be read here" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("flag", ["--rttm", "--json"])
def test_diarize_no_wait_refuses_copy_options(tmp_path, flag):
    """`diarize --no-wait --rttm X` sent the job and silently never wrote X."""
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"RIFF")
    result = run_cli("diarize", str(audio), "--no-wait", flag, str(tmp_path / "out"), env=isolated_env(tmp_path))
    assert result.returncode == 2, result.stderr
    assert "--no-wait" in result.stderr and "job" not in result.stderr.split("error:")[0]


def test_settings_shows_values_in_effect_and_hides_secrets(tmp_path):
    """`echonote settings` printed the defaults whatever the environment said."""
    env = isolated_env(tmp_path, ECHONOTE_WORKER_CONCURRENCY="5", ECHONOTE_HF_TOKEN="hf_topsecret",
                       ECHONOTE_ASR_SERVER_KEY="srv-topsecret", ECHONOTE_DATABASE_URL="postgresql://echo:pa@ss#word@db.example/jobs")
    result = run_cli("settings", env=env)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("ECHONOTE_")}
    concurrency = rows["ECHONOTE_WORKER_CONCURRENCY"]
    assert concurrency.split()[1:3] == ["5", "*"] and "(default: 2)" in concurrency
    assert str(tmp_path / "state") in rows["ECHONOTE_STATE_DIR"]
    assert "*" not in rows["ECHONOTE_RESULT_EXPIRES"].split()[1:3]
    assert "(set, hidden)" in rows["ECHONOTE_HF_TOKEN"]
    assert "(set, hidden)" in rows["ECHONOTE_ASR_SERVER_KEY"]  # a secret by its flag, whatever its name
    assert "postgresql://***@db.example/jobs" in rows["ECHONOTE_DATABASE_URL"]
    for secret in ("hf_topsecret", "srv-topsecret", "pa@ss", "ss#word", "word@"):
        assert secret not in result.stdout


def test_diarize_refuses_every_file_before_sending_any_when_one_is_too_long(stack, tmp_path):
    """Each file is staged and measured before the first job is sent: a file over the duration limit
    is a usage error, and the good file named before it is neither charged nor sent."""
    import os
    import wave

    from echonote import db

    files = []
    for name, seconds in (("short.wav", 1.0), ("long.wav", 3.0)):
        with wave.open(str(tmp_path / name), "wb") as out:
            out.setnchannels(1), out.setsampwidth(2), out.setframerate(8000)
            out.writeframes(b"\x00\x10" * int(8000 * seconds))
        files.append(str(tmp_path / name))
    env = dict(os.environ, ECHONOTE_USER="cli-refused", ECHONOTE_MAX_AUDIO_SECONDS="2")
    result = run_cli("diarize", *files, env=env)
    assert result.returncode == 2, result.stderr
    assert "long.wav lasts 3 s, longer than the limit of 2 s" in result.stderr and "Traceback" not in result.stderr
    assert db.find_jobs(user="cli-refused") == [] and "cli-refused" not in [u.name for u in db.list_users()]
