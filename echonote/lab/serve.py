"""JupyterLab for learners: a working copy of the notebooks, the kit's lab settings, root or not.

JupyterLab autosaves outputs into the files it serves, so it never serves
``notebooks/`` itself: each user gets a copy under the state directory
(``<state>/lab/notebooks/<user>``), made once and never overwritten — a
learner's edits survive every later ``echonote lab serve``. Lab settings and
workspaces live under ``<state>/lab`` too; the kit's settings there turn off
JupyterLab's news pop-up and update checks (no request leaves the machine).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from echonote import config
from echonote.private_files import private_dir, write_private

#: the notebooks and exercises shipped with the kit (a source checkout)
SOURCE = Path(__file__).resolve().parents[2] / "notebooks"
#: defaults the kit gives JupyterLab (``overrides.json``); keys checked against JupyterLab 4's schemas
KIT_SETTINGS = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}
SKIPPED = (".ipynb_checkpoints", "__pycache__")


@dataclass(frozen=True)
class LabFolders:
    """Where one user's JupyterLab keeps notebooks, settings and workspaces."""

    notebooks: Path
    app_settings: Path
    user_settings: Path
    workspaces: Path


def folders(cfg: config.Config | None = None, user: str | None = None) -> LabFolders:
    """``user``'s (default: the current user's) lab folders under the state directory."""
    from echonote.client import current_user

    cfg = cfg or config.load()
    lab = cfg.state_path / "lab"
    who = re.sub(r"[^A-Za-z0-9_.-]+", "_", user or current_user()).strip("._") or "user"
    return LabFolders(lab / "notebooks" / who, lab / "settings", lab / "user-settings" / who, lab / "workspaces" / who)


def copy_notebooks(dest: Path, source: Path = SOURCE, fresh: bool = False) -> list[Path]:
    """Copy ``source`` (notebooks and exercises) into ``dest``; only missing files unless ``fresh``.

    Returns the files written. A learner's edited copy is never overwritten
    unless ``fresh`` asks for it.
    """
    if not source.is_dir():
        raise FileNotFoundError(f"no notebooks at {source}: `echonote lab serve` runs from a source checkout "
                                "of echonote.")
    written = []
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if not path.is_file() or any(part in SKIPPED for part in relative.parts):
            continue
        target = dest / relative
        if target.exists() and not fresh:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        written.append(target)
    return written


def write_kit_settings(app_settings: Path) -> Path:
    """Write the kit's JupyterLab defaults (``overrides.json``) into ``app_settings``; return the file."""
    private_dir(app_settings)
    return write_private(app_settings / "overrides.json", json.dumps(KIT_SETTINGS, indent=2) + "\n")


def prepare(cfg: config.Config | None = None, user: str | None = None,
            fresh: bool = False) -> tuple[LabFolders, list[Path]]:
    """The working copy (missing files only, unless ``fresh``) and the kit's settings; (folders, files copied)."""
    where = folders(cfg, user)
    private_dir(where.notebooks.parent)
    copied = copy_notebooks(where.notebooks, fresh=fresh)
    write_kit_settings(where.app_settings)
    return where, copied


def jupyter_argv(where: LabFolders, port: int, *, ip: str = "127.0.0.1", uid: int | None = None,
                 extra: tuple[str, ...] = ()) -> list[str]:
    """The ``jupyter lab`` command line; ``--allow-root`` only when running as root (``uid``, default: ours)."""
    argv = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", f"--ServerApp.ip={ip}",
        f"--ServerApp.root_dir={where.notebooks}",
        f"--LabApp.app_settings_dir={where.app_settings}",
        f"--LabApp.user_settings_dir={where.user_settings}",
        f"--LabApp.workspaces_dir={where.workspaces}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if (os.geteuid() if uid is None else uid) == 0:
        argv.append("--allow-root")  # JupyterLab refuses root without it; a normal user never needs it
    return argv + list(extra)
