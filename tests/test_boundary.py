"""The seed claim: beat and Flower run from the light package and never import task code.

Two checks keep the line: at run time, a fresh interpreter takes beat's and
Flower's import path and must load nothing in ``echonote.boundary.HEAVY``; in
the source, ``lint-imports`` (the contracts in pyproject.toml) follows every
import, lazy ones inside functions included.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from support.environments import ROOT
from support.probes import HEAVY_CODE, HEAVY_PACKAGES, heavy_after, heavy_installed, heavy_loaded

BEAT_AND_FLOWER = """
from echonote.celery_app import app
{extra}
app.loader.import_default_modules()          # what `celery beat` and Flower call
from celery.beat import Service
scheduler = Service(app).get_scheduler(lazy=True)  # beat's own scheduler, schedule file untouched
import flower.command, flower.app             # Flower's command and application modules
"""
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def beat_path_heavy(extra: str = "") -> list[str]:
    return heavy_after(BEAT_AND_FLOWER.format(extra=extra))


def test_beat_and_flower_import_path_is_light():
    assert beat_path_heavy() == []


def test_probe_detects_task_code_when_it_is_imported():
    """Control: the same probe sees the worker package once something imports it."""
    assert "echonote.worker" in beat_path_heavy("import echonote.worker.tasks")


def test_the_light_client_path_stays_light():
    imports = "import echonote.cli, echonote.client, echonote.ops.monitor, echonote.ops.stack, echonote.db"
    assert heavy_after(imports) == []


def test_heavy_names_are_seen_through_any_submodule_and_only_when_loaded():
    assert heavy_loaded({"numpy", "numpy.linalg", "echonote.worker", "echonote.worker.tasks", "pyannote"}) == [
        "numpy", "echonote.worker"]  # the bare pyannote namespace is not pyannote.audio
    assert heavy_loaded(set()) == []
    assert heavy_installed(("echonote.boundary", "no_such_package", "no_such_package.sub")) == ["echonote.boundary"]


def contract(name_start: str) -> dict:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c["name"].startswith(name_start))


def test_the_import_contract_forbids_every_heavy_package():
    """pyproject's contract and echonote.boundary.HEAVY name the same heavy side (one list, checked twice)."""
    forbidden = set(contract("Beat, Flower")["forbidden_modules"])
    assert {name.split(".")[0] for name in HEAVY_PACKAGES} | set(HEAVY_CODE) == forbidden


def lint_imports(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = None if pythonpath is None else dict(os.environ, PYTHONPATH=str(pythonpath))
    return subprocess.run([LINT_IMPORTS, "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_package_keeps_its_import_contracts():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr


@pytest.fixture
def copy_of_package(tmp_path) -> Path:
    """echonote's sources and pyproject.toml in a folder that comes first on PYTHONPATH."""
    shutil.copytree(ROOT / "echonote", tmp_path / "echonote", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


@pytest.mark.parametrize("module, line, reported", [
    ("names.py", "import echonote.worker.tasks", ["echonote.names -> echonote.worker.tasks"]),
    ("celeryconfig.py", "import torch", ["echonote.celeryconfig -> torch"]),
    ("worker/paths.py", "import echonote.lab.panel", ["echonote.worker.paths -> echonote.lab.panel"]),
    ("db.py", "import echonote.client", [".db -> .client", ".client -> .db"]),  # either edge breaks the cycle
])
def test_lint_imports_finds_a_lazy_import_across_the_line(copy_of_package, module, line, reported):
    """Control: one import inside a function, on the wrong side of a contract, is reported with its chain."""
    with open(copy_of_package / "echonote" / module, "a") as source:
        source.write(f"\n\ndef _crosses_the_line():\n    {line}\n")
    done = lint_imports(copy_of_package, pythonpath=copy_of_package)
    assert done.returncode == 1, done.stdout + done.stderr
    broken = done.stdout.split("Broken contracts", 1)[1]
    assert any(chain in broken for chain in reported), done.stdout
