"""What an import path loads, measured in a fresh interpreter against the one HEAVY list."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from echonote.boundary import HEAVY, HEAVY_CODE, HEAVY_PACKAGES, heavy_installed, heavy_loaded

__all__ = ["HEAVY", "HEAVY_CODE", "HEAVY_PACKAGES", "heavy_after", "heavy_installed", "heavy_loaded"]


def heavy_after(code: str, *, also: tuple[str, ...] = (), python: str | Path = sys.executable,
                cwd: str | Path | None = None, env: dict[str, str] | None = None, timeout: float = 180) -> list[str]:
    """The HEAVY names (and those in ``also``) loaded once ``code`` ran in a new ``python`` process."""
    probe = (f"{code}\nimport json, sys\nfrom echonote.boundary import heavy_loaded\n"
             f"print(json.dumps(heavy_loaded() + [m for m in {tuple(also)!r} if m in sys.modules]))")
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
