"""pyannote.audio's bundled recording, found through the installed package (the worker extra)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def pyannote_sample() -> Path:
    """pyannote.audio's 30 s two-speaker ``sample.wav``; the test is skipped without the worker extra."""
    spec = importlib.util.find_spec("pyannote.audio")
    if spec is None:
        pytest.skip("pyannote.audio is not installed (the worker extra)")
    return Path(next(iter(spec.submodule_search_locations))) / "sample" / "sample.wav"
