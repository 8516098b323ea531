"""Decoding real files of every supported kind, and a clear error for every bad input."""

import os
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from echonote.worker.audio import SAMPLE_RATE, AudioInputError, decode_audio

FORMATS = [
    "pcm16_44k_stereo.wav",
    "float32_48k_stereo.wav",
    "pcm24_8k_mono.wav",
    "flac_22k_mono.flac",
    "vorbis_32k_stereo.ogg",
    "mp3_44k_stereo.mp3",
    "aac_44k_stereo.m4a",
    "opus_48k_stereo.webm",
]


@pytest.mark.parametrize("name", FORMATS)
def test_decodes_to_16k_mono_float32(audio_dir, name):
    decoded = decode_audio(audio_dir / name)
    assert decoded.waveform.dtype == np.float32 and decoded.waveform.ndim == 1
    assert decoded.sample_rate == SAMPLE_RATE
    assert decoded.duration == pytest.approx(2.0, abs=0.06)
    assert 0.1 < np.abs(decoded.waveform).max() < 1.0
    assert decoded.source_sample_rate > 0 and decoded.source_channels in (1, 2)


def test_float_wav_keeps_levels(audio_dir):
    """32-bit float WAV is decoded without rescaling: same level as the 16-bit file."""
    a = decode_audio(audio_dir / "float32_48k_stereo.wav").waveform
    b = decode_audio(audio_dir / "pcm16_44k_stereo.wav").waveform
    assert np.sqrt(np.mean(a**2)) == pytest.approx(np.sqrt(np.mean(b**2)), rel=0.02)


def test_silence_is_not_an_error(tmp_path):
    sf.write(tmp_path / "silence.wav", np.zeros(16000 * 3, dtype="float32"), 16000)
    decoded = decode_audio(tmp_path / "silence.wav")
    assert decoded.duration == pytest.approx(3.0) and not decoded.waveform.any()


def _error(path, **kwargs) -> str:
    with pytest.raises(AudioInputError) as info:
        decode_audio(path, **kwargs)
    return str(info.value)


def test_missing_file(tmp_path):
    assert "not found" in _error(tmp_path / "nope.wav")


def test_empty_file(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    assert "empty" in _error(tmp_path / "empty.wav")


def test_folder(tmp_path):
    assert "folder" in _error(tmp_path)


def test_not_audio(tmp_path):
    (tmp_path / "notes.txt").write_text("these are meeting notes, not a recording\n" * 50)
    assert "not a recognised audio file" in _error(tmp_path / "notes.txt")


def test_renamed_text_file_with_audio_suffix(tmp_path):
    (tmp_path / "fake.mp3").write_text("hello " * 400)
    assert "not a recognised audio file" in _error(tmp_path / "fake.mp3")


@pytest.mark.parametrize("name,keep", [("pcm16_44k_stereo.wav", 20000), ("mp3_44k_stereo.mp3", 3000),
                                       ("aac_44k_stereo.m4a", 3000), ("flac_22k_mono.flac", 9000)])
def test_truncated(audio_dir, tmp_path, name, keep):
    cut = tmp_path / name
    cut.write_bytes((audio_dir / name).read_bytes()[:keep])
    assert "truncated" in _error(cut)


def test_zero_duration(tmp_path):
    sf.write(tmp_path / "zero.wav", np.zeros(0, dtype="float32"), 16000)
    assert "zero duration" in _error(tmp_path / "zero.wav")


def test_video_without_audio(tmp_path, ffmpeg):
    out = tmp_path / "video.mp4"
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-f", "lavfi", "-i", "color=c=black:s=32x32:d=1",
                    "-an", str(out)], check=True)
    assert "no audio track" in _error(out)


@pytest.mark.parametrize("name", ["flac_22k_mono.flac", "mp3_44k_stereo.mp3"])
def test_too_long(audio_dir, name):
    message = _error(audio_dir / name, max_duration=1.0)
    assert "longer than the limit" in message and "1.0 s" in message


def test_too_large(audio_dir):
    assert "larger than the limit" in _error(audio_dir / "flac_22k_mono.flac", max_bytes=1000)


def test_outside_roots_including_symlink(audio_dir, tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    inside = allowed / "ok.flac"
    shutil.copy(audio_dir / "flac_22k_mono.flac", inside)
    assert decode_audio(inside, roots=[allowed]).duration > 1.9

    link = allowed / "escape.flac"
    os.symlink(audio_dir / "flac_22k_mono.flac", link)
    assert "outside the allowed folders" in _error(link, roots=[allowed])
    assert "outside the allowed folders" in _error(allowed / ".." / ".." / inside.relative_to(tmp_path.parent),
                                                   roots=[tmp_path / "other"])


@pytest.mark.parametrize("scale", [1e30, 32768.0])
def test_sample_values_out_of_range_are_refused(tmp_path, scale):
    """Samples all ×1e30 decoded "fine" and the job answered "no speech found", never saying the levels were invalid."""
    t = np.arange(16000 * 2) / 16000
    samples = (scale * 0.5 * np.sin(2 * np.pi * 220 * t)).astype("float32")
    sf.write(tmp_path / "huge.wav", samples, 16000, subtype="FLOAT")
    message = _error(tmp_path / "huge.wav")
    assert "sample values are out of range (peak" in message and "rescale it" in message, message


def test_float_wav_past_full_scale_is_accepted(tmp_path):
    """Float files may go past ±1.0 (a mix with headroom): that is sound, not an error."""
    t = np.arange(16000 * 2) / 16000
    sf.write(tmp_path / "hot.wav", (4.0 * np.sin(2 * np.pi * 220 * t)).astype("float32"), 16000, subtype="FLOAT")
    assert np.abs(decode_audio(tmp_path / "hot.wav").waveform).max() == pytest.approx(4.0, rel=0.05)
