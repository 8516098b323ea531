"""Bad CLI input gets one clear line and a meaningful exit code, never a traceback."""
from __future__ import annotations

import time

import pytest
from support.cli_runs import run_cli
from support.environments import free_port, isolated_env

COMMANDS = [[], ["up"], ["down"], ["status"], ["logs"], ["call"], ["quota"], ["quota", "show"], ["quota", "set"],
            ["settings"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "echonote")
def test_help_everywhere(command):
    result = run_cli(*command, "--help")
    assert result.returncode == 0 and "Usage: " in result.stdout and len(result.stdout.splitlines()) > 3


@pytest.mark.parametrize("flag,value,expected", [
    ("--kwargs", "{bad", "kwargs must be JSON"),
    ("--args", "[1,", "args must be JSON"),
    ("--kwargs", "[1, 2]", "kwargs must be a JSON object"),
    ("--args", '{"a": 1}', "args must be a JSON array"),
])
def test_call_rejects_bad_json(flag, value, expected):
    result = run_cli("call", "echonote.ping", flag, value)
    assert result.returncode == 2 and expected in result.stderr and "Traceback" not in result.stderr


def test_logs_unknown_role(tmp_path):
    result = run_cli("logs", "nosuchrole", env=isolated_env(tmp_path))
    assert result.returncode == 2 and "no log for role 'nosuchrole'" in result.stderr


def test_unreachable_broker_fails_fast_and_clearly(tmp_path):
    """Also guards issue 10 item 11: the client's own redaction cut at the first '@' and showed 'ss@'."""
    env = isolated_env(tmp_path, ECHONOTE_BROKER_URL=f"redis://:p@ss@127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    result = run_cli("call", "echonote.ping", env=env, timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert "cannot reach the broker" in result.stderr and "echonote up" in result.stderr
    assert "Traceback" not in result.stderr
    assert "redis://***@127.0.0.1:" in result.stderr and "p@ss" not in result.stderr and "ss@" not in result.stderr
    assert elapsed < 30, f"took {elapsed:.1f} s: the client must give up in bounded time"
    status = run_cli("status", env=env)
    assert status.returncode == 1 and "unreachable" in status.stdout


def test_bad_setting_is_a_usage_error(tmp_path):
    result = run_cli("status", env=isolated_env(tmp_path, ECHONOTE_SEND_TIMEOUT="soon"))
    assert result.returncode == 2 and "ECHONOTE_SEND_TIMEOUT" in result.stderr
    assert "Traceback" not in result.stderr


def test_quota_set_and_show(tmp_path):
    env = isolated_env(tmp_path)
    assert run_cli("quota", "set", "ada", "120", env=env).returncode == 0
    shown = run_cli("quota", "show", "ada", env=env)
    assert shown.returncode == 0 and "ada" in shown.stdout and "120" in shown.stdout
    negative = run_cli("quota", "set", "ada", "--", "-5", env=env)
    assert negative.returncode == 2 and ">= 0" in negative.stderr
    missing = run_cli("quota", "show", "nobody", env=env)
    assert missing.returncode == 2 and "quota set nobody" in missing.stderr
