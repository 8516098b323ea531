"""Decode any audio file to the 16 kHz mono float32 waveform the models expect.

WAV (any PCM or float subtype), FLAC and Ogg are read with libsndfile; everything
else (MP3, M4A/AAC, WebM/Opus, video containers...) goes through ffmpeg. Decoding
is done block by block so that a long, high-rate, multi-channel recording never
sits in memory at its original size. Every problem with the input is reported as
one exception type, :class:`AudioInputError`, whose message says what was wrong
and what to do about it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "AudioInputError",
    "DecodedAudio",
    "SAMPLE_RATE",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DURATION",
    "decode_audio",
    "ffmpeg_executable",
    "resolve_input_path",
]

SAMPLE_RATE = 16_000
DEFAULT_MAX_DURATION = 4 * 3600.0  # seconds
DEFAULT_MAX_BYTES = 2 * 1024**3  # 2 GiB
_BLOCK_FRAMES = 1 << 18  # frames per decoded block (~6 s at 44.1 kHz)
_SOUNDFILE_FORMATS = {"WAV", "WAVEX", "RF64", "W64", "FLAC", "OGG", "AIFF", "AU", "CAF"}
_TRUNCATED_DATA = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
_STREAMED_SIZES = {0, 0xFFFFFFFF, 0x7FFFFFFF, 0xFFFFFFFF - 8}
#: the largest |sample| accepted after decoding. Integer PCM decodes within ±1.0, but float files
#: may go past full scale (a mix with headroom, +20 dB is 10.0), so the bound is +60 dB: no sound
#: lies beyond it, while integers stored as floats (peak ~32768) and garbage (1e30) do.
MAX_PEAK = 1e3


class AudioInputError(ValueError):
    """The input file cannot be used as audio; the message tells the user what to do."""


@dataclass
class DecodedAudio:
    """A decoded recording and where it came from."""

    waveform: np.ndarray  # (num_samples,) float32, 16 kHz mono
    path: Path
    source_sample_rate: int
    source_channels: int
    decoder: str  # "soundfile" or "ffmpeg"
    source_format: str

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def duration(self) -> float:
        return len(self.waveform) / SAMPLE_RATE


def _fmt_seconds(seconds: float) -> str:
    seconds = float(seconds)
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def _fmt_bytes(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"  # unreachable


def resolve_input_path(path: str | os.PathLike, roots: Iterable[str | os.PathLike] | None = None) -> Path:
    """Resolve ``path`` (following symlinks) and check it is a readable file under ``roots``.

    ``roots=None`` allows any location; an empty list allows none.
    """
    raw = Path(path).expanduser()
    try:
        resolved = raw.resolve(strict=True)
    except FileNotFoundError:
        raise AudioInputError(
            f"Audio file not found: {str(raw)!r}. Check the path; workers read it from their own "
            f"file system, so it must exist on the worker machine (e.g. under a shared data folder)."
        ) from None
    except (OSError, RuntimeError) as exc:  # symlink loops, permission problems
        raise AudioInputError(f"Cannot open audio file {str(raw)!r}: {exc}. Check the path.") from None

    if roots is not None:
        allowed = [Path(r).expanduser().resolve() for r in roots]
        if not any(resolved == root or resolved.is_relative_to(root) for root in allowed):
            shown = ", ".join(str(r) for r in allowed) or "(none configured)"
            raise AudioInputError(
                f"Audio file {str(raw)!r} resolves to {str(resolved)!r}, which is outside the allowed "
                f"folders: {shown}. Copy the file into one of them or ask the operator to allow its folder."
            )
    if resolved.is_dir():
        raise AudioInputError(f"{str(raw)!r} is a folder, not an audio file. Pass the path of one audio file.")
    if not resolved.is_file():
        raise AudioInputError(f"{str(raw)!r} is not a regular file. Pass the path of an audio file.")
    if not os.access(resolved, os.R_OK):
        raise AudioInputError(f"Audio file {str(raw)!r} is not readable by the worker. Fix its permissions.")
    return resolved


def ffmpeg_executable() -> str:
    """Path of an ffmpeg binary: the system one if on PATH, else the one bundled by imageio-ffmpeg."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError:
        imageio_ffmpeg = None
    if imageio_ffmpeg is not None:
        try:
            return imageio_ffmpeg.get_ffmpeg_exe()
        except RuntimeError:
            pass
    raise AudioInputError(
        "This file needs ffmpeg to be decoded, but no ffmpeg was found. Install it "
        "(`apt-get install ffmpeg` or `pip install imageio-ffmpeg`), or convert the file to WAV or FLAC."
    )


class _Mixer:
    """Downmix blocks to mono and resample them to 16 kHz with soxr (librosa's default resampler)."""

    def __init__(self, source_rate: int):
        self.source_rate = int(source_rate)
        self._stream = None
        if self.source_rate != SAMPLE_RATE:
            import soxr

            self._stream = soxr.ResampleStream(self.source_rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
        self.parts: list[np.ndarray] = []
        self.num_samples = 0

    def feed(self, block: np.ndarray, last: bool = False) -> None:
        if block.ndim == 2:
            block = block.mean(axis=1, dtype=np.float64)
        block = np.ascontiguousarray(block, dtype=np.float32)
        if not np.all(np.isfinite(block)):
            raise AudioInputError(
                "The audio contains invalid sample values (NaN or infinity), so the file is corrupt. "
                "Re-export or re-record it."
            )
        peak = float(np.max(np.abs(block))) if block.size else 0.0
        if peak > MAX_PEAK:
            raise AudioInputError(
                f"The audio's sample values are out of range (peak {peak:.3g}; sound is stored within ±1.0). "
                f"The file is not valid PCM audio, or it holds unscaled values such as integers written as "
                f"floats: rescale it to ±1.0 and export it again."
            )
        if self._stream is not None:
            block = self._stream.resample_chunk(block, last=last)
        if block.size:
            self.parts.append(block)
            self.num_samples += block.size

    def result(self) -> np.ndarray:
        if not self.parts:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(self.parts) if len(self.parts) > 1 else self.parts[0]


def _check_duration(seconds: float, max_duration: float | None, what: str, at_least: bool = False) -> None:
    if max_duration is not None and seconds > max_duration:
        lasts = "lasts more than" if at_least else "lasts"
        raise AudioInputError(
            f"{what} {lasts} {_fmt_seconds(seconds)}, longer than the limit of {_fmt_seconds(max_duration)}. "
            f"Split it into shorter parts or ask the operator to raise the duration limit."
        )


def _decode_soundfile(path: Path, max_duration: float | None):
    """Decode with libsndfile; returns None when libsndfile does not know the format."""
    import soundfile as sf

    try:
        handle = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return None
    with handle:
        if handle.format not in _SOUNDFILE_FORMATS:
            return None
        declared = int(handle.frames)
        rate = int(handle.samplerate)
        channels = int(handle.channels)
        if rate <= 0:
            raise AudioInputError(f"{path.name}: the header gives an invalid sample rate. The file is corrupt.")
        _check_duration(declared / rate, max_duration, f"{path.name}")

        match = _TRUNCATED_DATA.search(handle.extra_info or "")
        if match:
            declared_bytes, actual_bytes = int(match.group(1)), int(match.group(2))
            if declared_bytes not in _STREAMED_SIZES and actual_bytes < declared_bytes:
                raise AudioInputError(
                    f"{path.name} is truncated: its header announces {declared_bytes} bytes of audio but "
                    f"only {actual_bytes} are present. Upload or copy the file again."
                )

        mixer = _Mixer(rate)
        read = 0
        try:
            while True:
                block = handle.read(_BLOCK_FRAMES, dtype="float32", always_2d=True)
                n = len(block)
                read += n
                last = n < _BLOCK_FRAMES
                mixer.feed(block, last=last)
                if last:
                    break
        except sf.LibsndfileError as exc:
            raise AudioInputError(
                f"{path.name} is corrupt or truncated ({exc}). Upload or copy the file again."
            ) from None
        if declared > 0 and read < declared:
            raise AudioInputError(
                f"{path.name} is truncated: {read} of {declared} audio frames could be read. "
                f"Upload or copy the file again."
            )
        return mixer.result(), rate, channels, handle.format


_FFMPEG_STREAM = re.compile(r"Stream #0:\d+.*?: Audio: (\S+?),? .*?(\d+) Hz, ([^,]+)")
_FFMPEG_PROBLEM = re.compile(r"^(?:\[[^\]]*\] )?\[(error|fatal|panic)\] ?(.*)$", re.MULTILINE)
# Containers libsndfile may half-support; ffmpeg decodes them more reliably.
_FFMPEG_FIRST = {".mp3", ".m4a", ".mp4", ".aac", ".webm", ".mkv", ".opus", ".wma", ".amr", ".3gp", ".mov", ".avi"}


class _FfmpegStream:
    """Stream 16 kHz mono float32 PCM from ffmpeg, stopping early past ``max_duration``."""

    def __init__(self, path: Path, max_duration: float | None):
        self.path = path
        self.max_duration = max_duration
        self.codec, self.rate, self.channels = "unknown", 0, 0

    def __iter__(self) -> Iterator[bytes]:
        path = self.path
        cmd = [ffmpeg_executable(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "level+info", "-i", str(path),
               "-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "pipe:1"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        limit = None if self.max_duration is None else int((self.max_duration * SAMPLE_RATE + 1) * 4)
        total, stopped_early = 0, False
        try:
            while True:
                chunk = proc.stdout.read(1 << 20)
                if not chunk:
                    break
                total += len(chunk)
                yield chunk
                if limit is not None and total > limit:
                    stopped_early = True
                    break
        finally:
            if stopped_early:
                proc.kill()
            proc.stdout.close()
            stderr = proc.stderr.read().decode("utf-8", "replace")
            proc.stderr.close()
            returncode = proc.wait()
        match = _FFMPEG_STREAM.search(stderr)
        if match:
            self.codec, self.rate = match.group(1), int(match.group(2))
            layout = match.group(3).strip()
            digits = re.match(r"\d+", layout)
            self.channels = {"mono": 1, "stereo": 2}.get(layout) or (int(digits.group()) if digits else 0)
        if stopped_early:
            _check_duration(total / 4 / SAMPLE_RATE, self.max_duration, path.name, at_least=True)
        problems = [m.group(2).strip() for m in _FFMPEG_PROBLEM.finditer(stderr)]
        if returncode != 0 or problems:
            guessed = "detected only with low score" in stderr or bool(re.search(r"Input #0, tty,", stderr))
            _raise_ffmpeg_error(path, problems or stderr.strip().splitlines()[-1:], produced=total > 0,
                                guessed=guessed)


def _raise_ffmpeg_error(path: Path, problems: list[str], produced: bool, guessed: bool = False) -> None:
    """Turn ffmpeg's complaints into one user-facing message; ``guessed`` = format sniffed with low confidence."""
    detail = problems[-1] if problems else "no detail"
    text = "\n".join(problems).lower()
    if not produced and guessed:
        raise AudioInputError(
            f"{path.name} is not a recognised audio file (it looks like text or another non-audio file). "
            f"Supported: WAV, FLAC, Ogg, MP3, M4A/AAC, WebM/Opus and most formats ffmpeg reads."
        )
    if "matches no streams" in text or "does not contain any stream" in text:
        raise AudioInputError(
            f"{path.name} contains no audio track. Pass a file with sound in it (for a video, "
            f"check that it has an audio stream)."
        )
    if "moov atom not found" in text:
        raise AudioInputError(
            f"{path.name} is truncated or corrupt (its index is missing: {detail}). "
            f"Upload or copy the file again, or re-export it."
        )
    if not produced and ("invalid data found" in text or "unknown format" in text
                         or "could not find codec" in text):
        raise AudioInputError(
            f"{path.name} is not a recognised audio file ({detail}). Supported: WAV, FLAC, Ogg, MP3, "
            f"M4A/AAC, WebM/Opus and most formats ffmpeg reads; convert it to WAV or FLAC if in doubt."
        )
    raise AudioInputError(
        f"{path.name} is corrupt or truncated and could not be decoded completely ({detail}). "
        f"Upload or copy the file again, or re-export it (e.g. to WAV or FLAC)."
    )


def _decode_ffmpeg(path: Path, max_duration: float | None):
    mixer = _Mixer(SAMPLE_RATE)
    stream = _FfmpegStream(path, max_duration)
    leftover = b""
    for chunk in stream:
        data = leftover + chunk
        usable = len(data) - len(data) % 4
        leftover = data[usable:]
        if usable:
            mixer.feed(np.frombuffer(data[:usable], dtype="<f4"))
    return mixer.result(), stream.rate, stream.channels, stream.codec


def decode_audio(
    path: str | os.PathLike,
    *,
    roots: Iterable[str | os.PathLike] | None = None,
    max_duration: float | None = DEFAULT_MAX_DURATION,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> DecodedAudio:
    """Decode ``path`` to a 16 kHz mono float32 waveform.

    ``roots`` restricts which folders files may be read from (symlinks resolved);
    ``max_duration`` (seconds) and ``max_bytes`` bound the work a single file can cause.
    Raises :class:`AudioInputError` for any unusable input. Silence is not an error.
    """
    resolved = resolve_input_path(path, roots)
    size = resolved.stat().st_size
    if size == 0:
        raise AudioInputError(f"Audio file {resolved.name} is empty (0 bytes). Upload or copy it again.")
    if max_bytes is not None and size > max_bytes:
        raise AudioInputError(
            f"Audio file {resolved.name} is {_fmt_bytes(size)}, larger than the limit of {_fmt_bytes(max_bytes)}. "
            f"Compress it (e.g. to FLAC or Opus), split it, or ask the operator to raise the size limit."
        )

    decoded = None if resolved.suffix.lower() in _FFMPEG_FIRST else _decode_soundfile(resolved, max_duration)
    if decoded is not None:
        waveform, rate, channels, fmt = decoded
        decoder = "soundfile"
    else:
        waveform, rate, channels, fmt = _decode_ffmpeg(resolved, max_duration)
        decoder = "ffmpeg"

    if waveform.size == 0:
        raise AudioInputError(
            f"{resolved.name} contains no audio samples (zero duration). Check the recording and upload it again."
        )
    _check_duration(waveform.size / SAMPLE_RATE, max_duration, resolved.name)
    return DecodedAudio(
        waveform=waveform,
        path=resolved,
        source_sample_rate=rate,
        source_channels=channels,
        decoder=decoder,
        source_format=fmt,
    )
