"""The light/heavy line: what beat, Flower and clients must never load, checked in one way everywhere.

Beat and Flower import only the light contract and know tasks by name; the
packages below belong to workers (the ML stack, worker code) or to tests
(``echonote.testing``). Every probe that proves an import path light uses
:data:`HEAVY` through :func:`heavy_loaded`, and ``[tool.importlinter]`` in
pyproject.toml forbids the same packages (a test keeps the two in step).
"""
from __future__ import annotations

import importlib.util
import sys
from collections.abc import Container

# Third-party packages only a worker needs (import names; a submodule means the rest of its namespace is light).
HEAVY_PACKAGES = (
    "torch",
    "torchaudio",
    "numpy",
    "librosa",
    "pyannote.audio",
    "pyannote.core",
    "pyannote.metrics",
    "faster_whisper",
    "ctranslate2",
    "jiwer",
)
# echonote's own code that beat, Flower and clients never import.
HEAVY_CODE = ("echonote.worker", "echonote.testing")
HEAVY = HEAVY_PACKAGES + HEAVY_CODE


def heavy_loaded(modules: Container[str] | None = None) -> list[str]:
    """The :data:`HEAVY` names among ``modules`` (default: this interpreter's ``sys.modules``), in HEAVY's order.

    A submodule is never loaded without its package, so a package's name is
    enough to see any part of it.
    """
    loaded = sys.modules if modules is None else modules
    return [name for name in HEAVY if name in loaded]


def heavy_installed(names: tuple[str, ...] = HEAVY) -> list[str]:
    """The ``names`` this interpreter could import (found on its path, nothing is imported but parents)."""
    found = []
    for name in names:
        try:
            if importlib.util.find_spec(name) is not None:
                found.append(name)
        except ModuleNotFoundError:  # its parent package is missing
            pass
    return found
