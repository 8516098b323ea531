"""The seed claim: beat and Flower run from the light package and never import task code."""
from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["torch", "torchaudio", "pyannote", "librosa", "numpy", "echonote.worker"]

PROBE = """
import json, sys
from echonote.celery_app import app
{extra}
app.loader.import_default_modules()          # what `celery beat` and Flower call
from celery.beat import Service
scheduler = Service(app).get_scheduler(lazy=True)  # beat's own scheduler, schedule file untouched
import flower.command, flower.app             # Flower's command and application modules
heavy = {heavy!r}
print(json.dumps(sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in heavy))))
"""


def loaded_heavy(extra: str = "") -> list[str]:
    code = PROBE.format(extra=extra, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_beat_and_flower_import_path_is_light():
    assert loaded_heavy() == []


def test_probe_detects_task_code_when_it_is_imported():
    """Control: the same probe sees the worker package once something imports it."""
    assert "echonote.worker.tasks" in loaded_heavy("import echonote.worker.tasks")


def test_the_light_client_path_stays_light():
    code = (
        "import sys, json; import echonote.cli, echonote.client, echonote.ops.monitor, echonote.ops.stack, echonote.db;"
        f"print(json.dumps(sorted(m for m in sys.modules if any(m == h or m.startswith(h + '.') for h in {HEAVY!r}))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []
