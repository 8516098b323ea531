"""Every command module can be imported first (an import cycle broke `import echonote.cli_transcribe`)."""
from __future__ import annotations

import subprocess
import sys

import pytest

MODULES = ["cli", "cli_audio", "cli_diarize", "cli_transcribe", "cli_jobs", "cli_benchmark", "canvas"]


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_first_and_registers_every_command(module):
    code = (f"import echonote.{module}, echonote.cli as c; "
            "print(sorted(n for n in ('diarize', 'transcribe', 'jobs', 'job', 'evaluate') if n in c.main.commands))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["['diarize',", "'evaluate',", "'job',", "'jobs',", "'transcribe']"]
