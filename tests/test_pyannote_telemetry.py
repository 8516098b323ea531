"""pyannote.audio's usage telemetry stays off wherever worker code runs, set in one place: the
``echonote.worker`` package, which every worker module, ``--local`` run and benchmark imports first."""
from __future__ import annotations

import os
import subprocess
import sys


def telemetry_setting_after(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "PYANNOTE_METRICS_ENABLED"}
    probe = f"{code}\nimport os; print(os.environ.get('PYANNOTE_METRICS_ENABLED'))"
    done = subprocess.run([sys.executable, "-c", probe], env={**clean, **env}, capture_output=True, text=True,
                          timeout=120, check=True)
    return done.stdout.strip().splitlines()[-1]


def test_importing_any_worker_module_turns_pyannote_telemetry_off():
    assert telemetry_setting_after("import echonote.worker") == "false"
    assert telemetry_setting_after("import echonote.worker.paths") == "false"


def test_a_value_set_by_the_user_is_kept():
    assert telemetry_setting_after("import echonote.worker", PYANNOTE_METRICS_ENABLED="true") == "true"


def test_the_light_contract_leaves_it_alone():
    """Beat and Flower import no pyannote, so they have nothing to switch off."""
    assert telemetry_setting_after("import echonote.celery_app, echonote.config, echonote.names") == "None"
