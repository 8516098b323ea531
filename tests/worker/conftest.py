"""Shared fixtures for the worker tests: real audio files generated on the fly."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
sf = pytest.importorskip("soundfile")


def tone(seconds: float = 2.0, rate: int = 44100, channels: int = 2) -> np.ndarray:
    """A deterministic chirp with a little noise, shaped (samples, channels)."""
    t = np.arange(int(seconds * rate)) / rate
    mono = 0.3 * np.sin(2 * np.pi * (220 + 200 * t) * t) + 0.01 * np.random.default_rng(0).standard_normal(t.size)
    return np.stack([mono * (0.5 + 0.5 * c) for c in range(channels)], axis=1).astype("float32")


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    from echonote.worker.audio import ffmpeg_executable

    return ffmpeg_executable()


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory, ffmpeg) -> Path:
    """One 2-second recording in many formats, rates and channel layouts."""
    out = tmp_path_factory.mktemp("audio")
    sf.write(out / "pcm16_44k_stereo.wav", tone(), 44100, subtype="PCM_16")
    sf.write(out / "float32_48k_stereo.wav", tone(rate=48000), 48000, subtype="FLOAT")
    sf.write(out / "pcm24_8k_mono.wav", tone(rate=8000, channels=1), 8000, subtype="PCM_24")
    sf.write(out / "flac_22k_mono.flac", tone(rate=22050, channels=1), 22050)
    sf.write(out / "vorbis_32k_stereo.ogg", tone(rate=32000), 32000, format="OGG", subtype="VORBIS")
    src = out / "pcm16_44k_stereo.wav"
    for name, codec in [("mp3_44k_stereo.mp3", ["-c:a", "libmp3lame"]),
                        ("aac_44k_stereo.m4a", ["-c:a", "aac"]),
                        ("opus_48k_stereo.webm", ["-c:a", "libopus"])]:
        subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(src), *codec, str(out / name)], check=True)
    return out


@pytest.fixture(scope="session")
def sample_wav() -> Path:
    """pyannote.audio's bundled 30 s two-speaker recording."""
    from support.sample_audio import pyannote_sample

    return pyannote_sample()


@pytest.fixture(scope="session")
def sample_rttm(sample_wav) -> Path:
    return sample_wav.with_suffix(".rttm")
