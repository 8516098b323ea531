"""The bad-input matrix, through the real task and the CLI: a clear message, the right final
state, the worker alive, and exactly one delivery (no retry storm)."""
from __future__ import annotations

import os
import wave
from pathlib import Path

import pytest
from support.cli_runs import run_cli

from echonote import client, config, db, names

np = pytest.importorskip("numpy")
sf = pytest.importorskip("soundfile")


def speechlike(seconds: float, rate: int, channels: int = 1):
    """Noise bursts shaped like syllables (not speech, but not silence either)."""
    t = np.arange(int(seconds * rate)) / rate
    envelope = (np.sin(2 * np.pi * 3 * t) > 0).astype("float32")
    mono = 0.2 * envelope * np.random.default_rng(1).standard_normal(t.size).astype("float32")
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono


@pytest.fixture(scope="module")
def inputs() -> dict[str, Path]:
    """One file per kind of bad (or odd) input, inside the data root."""
    root = config.load().path("data_dir") / "bad-inputs"
    root.mkdir(parents=True, exist_ok=True)
    files = {}

    files["empty"] = root / "empty.wav"
    files["empty"].write_bytes(b"")
    files["text"] = root / "notes.wav"
    files["text"].write_text("these are meeting notes, not audio\n" * 20)
    good = root / "good.wav"
    sf.write(good, speechlike(2, 16000), 16000, subtype="PCM_16")
    files["truncated_header"] = root / "truncated.wav"
    files["truncated_header"].write_bytes(good.read_bytes()[:30])
    files["corrupt_mp3"] = root / "corrupt.mp3"
    files["corrupt_mp3"].write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + os.urandom(4000))
    files["zero_length"] = root / "zero.wav"
    with wave.open(str(files["zero_length"]), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
    files["silence"] = root / "silence.wav"
    sf.write(files["silence"], np.zeros(16000 * 5, dtype="float32"), 16000, subtype="PCM_16")
    files["telephone_8k"] = root / "phone.wav"
    sf.write(files["telephone_8k"], speechlike(4, 8000), 8000, subtype="PCM_16")
    files["stereo_48k"] = root / "stereo.wav"
    sf.write(files["stereo_48k"], speechlike(4, 48000, 2), 48000, subtype="PCM_16")
    files["three_hours"] = root / "three-hours.wav"
    with wave.open(str(files["three_hours"]), "wb") as w:  # 8-bit 8 kHz silence: 86 MB
        w.setnchannels(1), w.setsampwidth(1), w.setframerate(8000)
        chunk = b"\x80" * (8000 * 60)
        for _ in range(180):
            w.writeframes(chunk)
    files["huge_samples"] = root / "huge-samples.wav"
    sf.write(files["huge_samples"], speechlike(2, 16000) * 1e30, 16000, subtype="FLOAT")
    files["symlink_escape"] = root / "escape.wav"
    if not files["symlink_escape"].is_symlink():
        files["symlink_escape"].symlink_to("/etc/passwd")
    files["dotdot"] = Path(str(root) + "/../../../../../../etc/passwd")
    files["missing"] = root / "never-recorded.wav"
    return files


FAILING = [
    ("missing", "not found"),
    ("empty", "empty (0 bytes)"),
    ("text", "not a recognised audio file"),
    ("truncated_header", "truncated"),
    ("corrupt_mp3", "corrupt"),
    ("zero_length", "no audio"),
    ("three_hours", "longer than the limit"),
    ("huge_samples", "sample values are out of range"),
    ("dotdot", "outside the allowed folders"),
    ("symlink_escape", "outside the allowed folders"),
]

SUCCEEDING = [("silence", 0), ("telephone_8k", None), ("stereo_48k", None)]

MALFORMED = [
    ({"num_speakers": "two"}, "whole number"),
    ({"num_speakers": -2}, "at least 1"),
    ({"min_speakers": 4, "max_speakers": 2}, "greater than max_speakers"),
    ({"backend": "magic"}, "Unknown diarization backend"),
]


def run_job(kwargs: dict):
    job = client.submit(names.DIARIZE, kwargs, kind="diarize")
    try:
        return job, client.wait(job.task_id, timeout=600), None
    except Exception as exc:
        return job, None, exc


def assert_failed_once(job, error, expected: str, stack):
    assert error is not None and type(error).__name__ == "BadInput", repr(error)
    assert expected.lower() in str(error).lower(), str(error)
    row = db.get_job(job.id)
    assert row.status == db.FAILED and row.attempts == 1, (row.status, row.attempts)
    assert expected.lower() in row.error.lower()
    assert stack.worker_ping("worker", timeout=3)


@pytest.mark.parametrize("kind,expected", FAILING, ids=[k for k, _ in FAILING])
def test_bad_file_fails_once_with_a_clear_message(stack, inputs, kind, expected):
    job, _, error = run_job({"audio_path": str(inputs[kind])})
    assert_failed_once(job, error, expected, stack)


@pytest.mark.parametrize("kind,speakers", SUCCEEDING, ids=[k for k, _ in SUCCEEDING])
def test_odd_but_valid_audio_succeeds(stack, inputs, kind, speakers):
    job, result, error = run_job({"audio_path": str(inputs[kind])})
    assert error is None, error
    assert result["duration"] > 0 and db.get_job(job.id).status == db.SUCCEEDED
    if speakers == 0:
        assert result["num_speakers"] == 0 and result["segments"] == [] and result["note"] == "no speech found"


@pytest.mark.parametrize("extra,expected", MALFORMED, ids=["wrong-type", "negative", "min-gt-max", "backend"])
def test_malformed_kwargs(stack, inputs, extra, expected):
    job, _, error = run_job({"audio_path": str(inputs["stereo_48k"]), **extra})
    assert_failed_once(job, error, expected, stack)


def test_unknown_kwarg_is_refused(stack, inputs):
    job, _, error = run_job({"audio_path": str(inputs["stereo_48k"]), "speakers": 2})
    assert error is not None and "speakers" in str(error)
    assert db.get_job(job.id).attempts == 1 and stack.worker_ping("worker", timeout=3)


def test_unknown_task_name(stack):
    job = client.submit("echonote.diarise", {"audio_path": "x.wav"})
    with pytest.raises(Exception) as caught:
        client.wait(job.task_id, timeout=60)
    assert type(caught.value).__name__ == "NotRegistered"
    assert stack.worker_ping("worker", timeout=3)


@pytest.mark.parametrize("kind,expected", [("text", "not a recognised audio file"), ("empty", "empty"),
                                           ("dotdot", "not an audio type")])
def test_cli_reports_bad_files(stack, inputs, kind, expected):
    result = run_cli("diarize", str(inputs[kind]), timeout=300)
    assert result.returncode in (1, 2), result.stderr
    assert expected in (result.stderr + result.stdout).lower() and "Traceback" not in result.stderr


def test_cli_rejects_bad_options_before_sending(stack, inputs):
    result = run_cli("diarize", str(inputs["silence"]), "--min-speakers", "3", "--max-speakers", "2")
    assert result.returncode == 2 and "greater than --max-speakers" in result.stderr
    result = run_cli("diarize", str(inputs["silence"]), "--num-speakers", "0")
    assert result.returncode == 2 and "0 is not in the range" in result.stderr
