"""Build a role's Python environment from its requirement file, and measure environments.

Used by the light-venv test, the footprint benchmark and the container checks:
one role = ``requirements/<role>.txt`` + the echonote package without dependencies.
"""
from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def build(role: str, where: Path, timeout: float = 1800) -> Path:
    """Create (or reuse, refreshing echonote) a venv at ``where`` holding only ``role``'s requirements; return it."""
    where = Path(where).resolve()
    requirements = ROOT / "requirements" / f"{role}.txt"
    if not requirements.exists():
        raise FileNotFoundError(f"{requirements} is missing: run `make requirements`")
    stamp = where / f".echonote-{role}"
    pip = [str(where / "bin/python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if not (stamp.exists() and stamp.read_text() == requirements.read_text()):
        venv.EnvBuilder(with_pip=True, clear=True).create(where)
        _run(pip + ["-r", str(requirements)], timeout)
        stamp.write_text(requirements.read_text())
    # always refresh echonote itself: a cached venv must not run yesterday's code
    _run(pip + ["--no-deps", "--force-reinstall", str(ROOT)], timeout, cwd=where.parent)
    return where


def _run(argv: list[str], timeout: float, cwd: Path | None = None) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    if done.returncode != 0:
        raise RuntimeError(
            f"`{' '.join(argv)}` failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )


def size_on_disk(path: Path) -> int:
    """Bytes used by the files under ``path`` (links not followed)."""
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total
