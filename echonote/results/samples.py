"""Bundled sample audio with references, made available under the data root.

pyannote.audio's wheel ships a 30 s two-speaker recording with its reference
diarization and transcript; it is found without importing pyannote (light).
"""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from echonote import config

SAMPLE_NAME = "pyannote_sample"


def pyannote_sample_dir() -> Path:
    spec = importlib.util.find_spec("pyannote.audio")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("pyannote.audio is not installed here: install the worker extra (`make setup`).")
    return Path(list(spec.submodule_search_locations)[0]) / "sample"


def ensure_pyannote_sample(data_dir: Path | None = None) -> dict[str, Path]:
    """Copy the sample's wav/rttm/stm into ``<data>/samples/`` (once); return their paths."""
    target = (data_dir or config.load().path("data_dir")) / "samples"
    target.mkdir(parents=True, exist_ok=True)
    paths = {}
    for ext in ("wav", "rttm", "stm"):
        dest = target / f"{SAMPLE_NAME}.{ext}"
        if not dest.exists():
            shutil.copyfile(pyannote_sample_dir() / f"sample.{ext}", dest)
        paths[ext] = dest
    return paths


def reference_for(audio: Path) -> Path | None:
    """The reference RTTM next to an audio file (same stem), if there is one."""
    candidate = Path(audio).with_suffix(".rttm")
    return candidate if candidate.exists() else None
