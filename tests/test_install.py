"""The install paths a room of learners uses: a wheelhouse made once, `make setup` from it offline,
the dev extras (pytest, Playwright) only with `make test`, and the CPU-only torch option.

Real `make` and `pip` runs: the beat role is installed (small), since the worker role
is 3 GB of wheels; the rule being checked is the same for every role.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def make(*args: str, cwd: Path = ROOT, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    return subprocess.run(["make", "--no-print-directory", *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=timeout)


def test_setup_installs_no_dev_extras_and_test_does():
    """`make -n` shows the recipe make would run: setup installs the roles only; test adds dev."""
    fresh = make("-n", "-B", "setup", "VENV=/nonexistent/venv")
    assert fresh.returncode == 0, fresh.stderr
    installs = [line for line in fresh.stdout.splitlines() if "pip install" in line and " -e " in line]
    assert installs and all("dev" not in line for line in installs), installs
    test = make("-n", "-B", "test", "VENV=/nonexistent/venv")
    assert any("-e '.[dev]'" in line for line in test.stdout.splitlines()), test.stdout


def test_cpu_torch_index_installs_the_pinned_torch_from_that_index_first():
    plan = make("-n", "-B", "setup", "VENV=/nonexistent/venv", "TORCH_INDEX_URL=file:///srv/cpu-wheels")
    lines = plan.stdout.splitlines()
    torch_line = next(i for i, line in enumerate(lines) if "--index-url file:///srv/cpu-wheels" in line)
    project_line = next(i for i, line in enumerate(lines) if " -e '.[" in line)
    pins = sorted(part for part in lines[torch_line].split() if part.startswith("torch"))
    text = (ROOT / "pyproject.toml").read_text()
    assert pins and all(f'"{pin}"' in text for pin in pins), pins  # the same pins as pyproject
    assert {p.split("==")[0] for p in pins} == {"torch", "torchaudio"}
    assert torch_line < project_line  # so the project install finds torch satisfied and adds no CUDA wheels


@pytest.mark.slow
def test_wheelhouse_then_offline_setup(tmp_path):
    """Download once, then install with no index at all: everything came from the wheelhouse."""
    python = shutil.which("python3.11") or sys.executable
    house = tmp_path / "wheelhouse"
    made = make("wheelhouse", f"PYTHON={python}", "EXTRAS=beat", f"WHEELHOUSE={house}")
    assert made.returncode == 0, made.stdout + made.stderr
    assert any(p.name.startswith("celery-") for p in house.iterdir())
    assert any(p.name.startswith("pytest-") for p in house.iterdir())  # make test's extras too

    venv = tmp_path / "venv"
    setup = make("setup", f"PYTHON={python}", "EXTRAS=beat", f"WHEELHOUSE={house}", f"VENV={venv}")
    assert setup.returncode == 0, setup.stdout + setup.stderr
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import importlib.util as u, echonote.celery_app, flower; print(u.find_spec('pytest') is None)"],
        capture_output=True, text=True, timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "True"  # setup alone brings no test tools

    dev = make(f"{venv}/.installed-dev", f"PYTHON={python}", "EXTRAS=beat", f"WHEELHOUSE={house}", f"VENV={venv}")
    assert dev.returncode == 0, dev.stdout + dev.stderr
    assert (venv / "bin" / "pytest").exists()
