"""The app's configuration: real Celery keys only, JSON only, the visibility-timeout trap closed."""
from __future__ import annotations

import subprocess
import sys

import pytest
from celery.app.defaults import NAMESPACES, flatten

from echonote import celeryconfig, config, names


def test_every_key_is_a_real_celery_setting():
    """Old-style or misspelled keys (``celery_result_backend``) are silently ignored by Celery."""
    known = {key for key, _ in flatten(NAMESPACES)}
    unknown = set(celeryconfig.CELERY_SETTINGS) - known
    assert not unknown, f"not Celery settings: {sorted(unknown)}"
    assert all(key == key.lower() for key in celeryconfig.CELERY_SETTINGS)


def test_app_config_lists_no_task_modules():
    """beat and Flower import conf.include/conf.imports: they must be empty."""
    from echonote.celery_app import app

    assert not app.conf.include and not app.conf.imports
    assert "include" not in celeryconfig.CELERY_SETTINGS and "imports" not in celeryconfig.CELERY_SETTINGS


def test_json_only_and_safety_settings():
    from echonote.celery_app import app

    c = app.conf
    assert c.accept_content == ["json"] and c.result_accept_content == ["json"]
    assert c.task_serializer == c.result_serializer == "json"
    assert c.timezone == "UTC" and c.enable_utc
    assert c.worker_send_task_events and c.task_send_sent_event and c.task_track_started
    assert c.task_acks_late and c.task_reject_on_worker_lost and c.worker_prefetch_multiplier == 1
    assert c.task_soft_time_limit < c.task_time_limit < c.broker_transport_options["visibility_timeout"]


def test_routes_and_schedule_are_by_name():
    from echonote.celery_app import app

    assert app.conf.task_routes[names.DIARIZE] == {"queue": "diarization"}
    assert app.conf.task_routes[names.RESET_DAILY_QUOTAS] == {"queue": "default"}
    entry = app.conf.beat_schedule["reset-daily-quotas"]
    assert entry["task"] == names.RESET_DAILY_QUOTAS and isinstance(entry["task"], str)
    assert entry["schedule"].hour == {0} and entry["schedule"].minute == {0}


def test_workshop_switch_runs_every_n_seconds():
    code = "from echonote.celery_app import app; print(app.conf.beat_schedule['reset-daily-quotas']['schedule'])"
    env = {"ECHONOTE_WORKSHOP_SCHEDULE_SECONDS": "7", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "7.0"


def test_visibility_timeout_must_exceed_hard_limit():
    """The upstream trap: hard limit == visibility timeout delivers long jobs twice."""
    with pytest.raises(config.ConfigError, match="must exceed"):
        config.load({"ECHONOTE_HARD_TIME_LIMIT": "3600", "ECHONOTE_VISIBILITY_TIMEOUT": "3600"})


def test_bad_env_value_names_the_variable():
    with pytest.raises(config.ConfigError, match="ECHONOTE_REDIS_PORT"):
        config.load({"ECHONOTE_REDIS_PORT": "sixty"})


def test_every_setting_is_documented():
    for setting in config.SETTINGS:
        assert setting.env.startswith("ECHONOTE_") and setting.doc.endswith(".")
    assert len({s.env for s in config.SETTINGS}) == len(config.SETTINGS)


def test_requirement_files_are_generated_from_pyproject():
    root = __import__("pathlib").Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, str(root / "tools/gen_requirements.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    beat = (root / "requirements/beat.txt").read_text()
    assert "celery[redis]" in beat and "torch" not in beat and "numpy" not in beat


def test_readme_documents_every_setting():
    readme = (__import__("pathlib").Path(__file__).resolve().parent.parent / "README.md").read_text()
    for env, _default, doc in config.describe():
        assert f"| `{env}` |" in readme and doc in readme, f"README's configuration table lacks {env}"
