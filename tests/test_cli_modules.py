"""Every command module can be imported first (an import cycle broke `import echonote.cli.transcribe`)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import echonote.cli

# every module of the cli package, found on disk (a new command module is covered without editing this list)
MODULES = sorted(f"cli.{p.stem}" for p in Path(echonote.cli.__file__).parent.glob("*.py") if p.stem != "__init__")
MODULES += ["cli", "client.canvas"]
COMMANDS = ("diarize", "transcribe", "jobs", "job", "evaluate", "up", "quota", "call", "settings", "lab")


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_first_and_registers_every_command(module):
    code = (
        f"import echonote.{module}, echonote.cli as c; "
        f"print(sorted(n for n in {COMMANDS!r} if n in c.main.commands))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(sorted(COMMANDS))
