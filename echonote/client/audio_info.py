"""How long a recording really lasts, measured without the audio stack: the client's quota charge.

Headers lie: a streamed WAV announces 0xFFFFFFFF bytes of data (134,218 s at 16 kHz), an MP3's
Xing header can give any frame count, a recorded WebM/Opus has no duration at all. So the
charge comes from what the file holds: a PCM WAV's data chunk is clamped to the bytes present,
anything else is read to its end by ffmpeg without decoding (``-c copy`` to the null muxer:
about 0.1 s for 20 minutes of audio) and timed by its last packet. Only when no ffmpeg is at
hand, or it runs past :data:`PROBE_TIMEOUT`, does a header value stand in. The worker measures
what it decodes and settles the difference (:func:`echonote.db.reconcile_charge`).
"""
from __future__ import annotations

import contextlib
import io
import re
import shutil
import struct
import subprocess
from pathlib import Path

#: seconds the ffmpeg pass may take before a header value is used instead
PROBE_TIMEOUT = 30.0

_PCM_FORMATS = {1, 3, 6, 7}  # integer PCM, float, A-law, mu-law: one block = one frame
_EXTENSIBLE = 0xFFFE
_OUT_TIME = re.compile(rb"^out_time_us=(\d+)\s*$", re.MULTILINE)


def charge_seconds(path: str | Path) -> float:
    """What a job on ``path`` is charged up front: its measured length, else a guess from its size
    at 128 kbit/s (no ffmpeg, unknown format); the worker settles the charge with what it decodes."""
    seconds = duration_seconds(path)
    return seconds if seconds is not None else size_guess_seconds(path)


def size_guess_seconds(path: str | Path) -> float:
    """``path``'s length guessed from its size at 128 kbit/s: the charge when nothing could measure it."""
    return Path(path).stat().st_size / 16000


def duration_seconds(path: str | Path) -> float | None:
    """Seconds of audio in ``path``, measured (see the module doc); None if it cannot be told here."""
    path = Path(path)
    for measure in (_pcm_wav_seconds, _ffmpeg_seconds, _header_seconds):
        with contextlib.suppress(OSError, ValueError, struct.error):
            seconds = measure(path)
            if seconds is not None:
                return seconds
    return None


def _pcm_wav_seconds(path: Path) -> float | None:
    """Frames actually present in a PCM WAV's data chunk (its declared size clamped to the file); None if not one."""
    with path.open("rb") as fh:
        return _pcm_wav_stream_seconds(fh, path.stat().st_size)


def wav_header_seconds(head: bytes, size: int) -> float | None:
    """A PCM WAV's length from its first bytes ``head`` and its whole ``size`` (an object in a store, read with
    one ranged request): the data chunk clamped to the bytes present; None if it is not a PCM WAV or the
    header goes past ``head``."""
    with contextlib.suppress(ValueError, struct.error):
        return _pcm_wav_stream_seconds(io.BytesIO(head), size)
    return None


def _pcm_wav_stream_seconds(fh, size: int) -> float | None:
    """The data chunk of the WAV read from ``fh`` (``size`` bytes in all), in seconds; None if not a PCM WAV."""
    if fh.read(4) != b"RIFF" or fh.read(8)[4:] != b"WAVE":
        return None
    rate = block = None
    while True:
        head = fh.read(8)
        if len(head) < 8:
            return None
        chunk, length = head[:4], struct.unpack("<I", head[4:])[0]
        if chunk == b"fmt ":
            fmt = fh.read(min(length, 40))
            tag, _channels, rate, _byte_rate, block = struct.unpack("<HHIIH", fmt[:14])
            if tag == _EXTENSIBLE and len(fmt) >= 26:
                tag = struct.unpack("<H", fmt[24:26])[0]
            if tag not in _PCM_FORMATS or not rate or not block:
                return None  # compressed WAV: blocks hold many frames, let ffmpeg count them
            fh.seek(length - len(fmt) + (length & 1), 1)
        elif chunk == b"data":
            if rate is None:
                return None
            present = min(length, size - fh.tell())
            return present // block / rate
        else:
            fh.seek(length + (length & 1), 1)


def ffmpeg_for_probing() -> str | None:
    """An ffmpeg binary: the system one, else imageio-ffmpeg's if installed; None when there is none."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    with contextlib.suppress(ImportError, RuntimeError):
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    return None


def _ffmpeg_seconds(path: Path) -> float | None:
    """Read the first audio stream to its end without decoding and return the time of its last packet."""
    ffmpeg = ffmpeg_for_probing()
    if ffmpeg is None:
        return None
    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-i", str(path), "-map", "0:a:0", "-c", "copy",
           "-f", "null", "-", "-progress", "pipe:1", "-nostats"]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=PROBE_TIMEOUT)
    except subprocess.TimeoutExpired:
        return None
    times = _OUT_TIME.findall(done.stdout)
    if done.returncode != 0 or not times:
        return None
    seconds = int(times[-1]) / 1e6
    return seconds if seconds > 0 else None


def _header_seconds(path: Path) -> float | None:
    """What the file's header claims (mutagen): only when nothing better could be measured."""
    import mutagen

    try:
        info = mutagen.File(str(path))
    except mutagen.MutagenError:
        return None
    length = getattr(getattr(info, "info", None), "length", None)
    return float(length) if length else None
