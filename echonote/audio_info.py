"""Audio duration without the audio stack: the client's quota check stays light."""
from __future__ import annotations

import contextlib
import wave
from pathlib import Path


def duration_seconds(path: str | Path) -> float | None:
    """Duration from the file header (wave, then mutagen); None if it cannot be told here.

    The worker decodes and checks the file properly; this is only for the quota.
    """
    path = Path(path)
    with contextlib.suppress(wave.Error, EOFError, OSError):
        with wave.open(str(path), "rb") as w:
            rate = w.getframerate()
            return w.getnframes() / rate if rate else None
    with contextlib.suppress(Exception):
        import mutagen

        info = mutagen.File(str(path))
        if info is not None and info.info is not None and getattr(info.info, "length", None):
            return float(info.info.length)
    return None
