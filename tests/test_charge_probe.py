"""The quota charge follows the audio, not its header: a measured charge on the client, settled on the worker.

Three files whose headers lie, made with ffmpeg: a streamed WAV (data size 0xFFFFFFFF), an MP3
whose Xing header says 1 s, a recorded WebM/Opus with no duration. The client charged them
134,218 s, 1 s and about 87 s (a size-based guess) before.
"""
from __future__ import annotations

import struct
import subprocess
import time
from pathlib import Path

import pytest

from echonote import client, config, db, names
from echonote.client.audio_info import charge_seconds as _audio_seconds
from echonote.client.audio_info import ffmpeg_for_probing

FFMPEG = ffmpeg_for_probing()
pytestmark = pytest.mark.skipif(FFMPEG is None, reason="needs ffmpeg (system package or the imageio-ffmpeg wheel)")


def ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", *args], check=True, timeout=300)


def tone(seconds: float, rate: int = 16000) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency=220:sample_rate={rate}:duration={seconds}", "-ac", "1"]


def streamed_wav(path: Path, seconds: float) -> Path:
    """A PCM WAV whose RIFF and data sizes say 0xFFFFFFFF, as a recorder writing to a pipe leaves them."""
    ffmpeg(*tone(seconds), "-c:a", "pcm_s16le", str(path))
    data = bytearray(path.read_bytes())
    data[4:8] = struct.pack("<I", 0xFFFFFFFF)
    at = data.index(b"data")
    data[at + 4:at + 8] = struct.pack("<I", 0xFFFFFFFF)
    path.write_bytes(bytes(data))
    return path


def mp3_claiming_one_second(path: Path, seconds: float) -> Path:
    """An MP3 whose Xing header counts the frames of 1 s (and 2,400 bytes) however long the audio is."""
    ffmpeg(*tone(seconds), "-c:a", "libmp3lame", "-b:a", "16k", str(path))
    data = bytearray(path.read_bytes())
    at = min(i for i in (data.find(b"Xing"), data.find(b"Info")) if i >= 0)
    flags = struct.unpack(">I", data[at + 4:at + 8])[0]
    assert flags & 1, "the encoder wrote no frame count to patch"
    data[at:at + 4] = b"Xing"
    data[at + 8:at + 12] = struct.pack(">I", 28)  # 28 frames x 576 samples / 16 kHz = 1.008 s
    if flags & 2:
        data[at + 12:at + 16] = struct.pack(">I", 2400)
    path.write_bytes(bytes(data))
    return path


def recorded_webm(path: Path, seconds: float) -> Path:
    """A WebM/Opus written to a pipe, as a browser's MediaRecorder does: no duration, no cues.
    Built from one 30 s Opus piece repeated with stream copy (encoding 20 min takes too long here)."""
    piece = path.with_name("piece.webm")
    ffmpeg(*tone(30, 48000), "-c:a", "libopus", "-b:a", "12k", str(piece))
    listing = path.with_name("pieces.txt")
    listing.write_text(f"file '{piece}'\n" * int(seconds // 30))
    with path.open("wb") as out:
        subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing),
                        "-c", "copy", "-f", "webm", "-"], stdout=out, check=True, timeout=300)
    return path


LIARS = {
    "streamed_wav_10min": (streamed_wav, 600.0),
    "mp3_xing_1s_20min": (mp3_claiming_one_second, 1200.0),
    "webm_opus_recorded_20min": (recorded_webm, 1200.0),
}


@pytest.mark.parametrize("kind", list(LIARS))
def test_client_charges_the_real_length_whatever_the_header_says(tmp_path, kind):
    make, seconds = LIARS[kind]
    path = make(tmp_path / f"{kind}{'.wav' if 'wav' in kind else '.mp3' if 'mp3' in kind else '.webm'}", seconds)
    started = time.monotonic()
    charged = _audio_seconds(path)
    took = time.monotonic() - started
    assert abs(charged - seconds) <= 0.02 * seconds, f"{kind}: charged {charged:.1f} s for {seconds:.0f} s of audio"
    assert took < 10, f"measuring took {took:.1f} s"


def _usage(name: str) -> float:
    return next(u.used_seconds_today for u in db.list_users() if u.name == name)


def _wait_final(job_id: str, timeout: float = 300) -> db.Job:
    deadline = time.monotonic() + timeout
    while (row := db.get_job(job_id)).status not in db.FINISHED_STATES:
        assert time.monotonic() < deadline, f"job still {row.status} after {timeout} s"
        time.sleep(0.3)
    return row


@pytest.fixture(scope="module")
def lying_mp3() -> Path:
    """40 s of tone in an MP3 whose header says 1 s, under the data root (workers read only there)."""
    root = config.load().path("data_dir") / "charges"
    root.mkdir(parents=True, exist_ok=True)
    return mp3_claiming_one_second(root / "says-one-second.mp3", 40.0)


def diarize_charged(audio: Path, user: str, quota: float, charged: float, timeout: float = 300) -> db.Job:
    """Submit ``audio`` for diarization as ``user`` (usage zeroed, ``quota`` set), charged ``charged`` seconds;
    return its final row."""
    db.set_quota(user, quota)
    db.reset_daily_quotas()
    job = client.submit(names.DIARIZE, {"audio_path": str(audio)}, kind="diarize", audio_path=str(audio),
                        audio_seconds=charged, user=user)
    return _wait_final(job.id, timeout)


def test_worker_bills_what_it_decoded_when_the_charge_was_too_low(stack, lying_mp3):
    """Charged 1 s from the header at submission, the worker decodes 40 s and bills the other 39 s."""
    row = diarize_charged(lying_mp3, "undercharged", quota=1000, charged=1.0)
    assert row.status == db.SUCCEEDED, row.error
    assert abs(row.audio_seconds - 40.0) < 0.5 and abs(_usage("undercharged") - row.audio_seconds) < 1e-6


def test_worker_refunds_what_it_did_not_decode(stack, lying_mp3):
    """Charged 500 s, the audio holds 40 s: the worker gives back 460 s."""
    row = diarize_charged(lying_mp3, "overcharged", quota=1000, charged=500.0)
    assert row.status == db.SUCCEEDED, row.error
    assert abs(_usage("overcharged") - 40.0) < 0.5


def test_worker_refuses_audio_longer_than_the_quota_left(stack, lying_mp3):
    """Charged 1 s against a 30 s quota, the file holds 40 s: refused with the reason, nothing charged."""
    row = diarize_charged(lying_mp3, "tight", quota=30, charged=1.0, timeout=120)
    assert row.status == db.FAILED and row.attempts == 1
    assert "BadInput" in row.error and "do not fit" in row.error and "echonote quota set tight" in row.error
    assert _usage("tight") == 0.0 and row.audio_seconds == 0.0


def test_a_transcript_canvas_is_settled_by_its_parts(stack):
    """The canvas's row follows attribute, which decodes nothing: diarize and transcribe settle its charge
    (both may; the second finds it settled)."""
    pytest.importorskip("pyannote.audio", reason="the sample ships in pyannote.audio's wheel")
    from echonote.client import canvas
    from echonote.results.samples import ensure_pyannote_sample

    wav = ensure_pyannote_sample()["wav"]
    db.set_quota("canvascharge", 1000)
    db.reset_daily_quotas()
    job, _ = canvas.submit_transcript(str(wav), audio_seconds=1.0, user="canvascharge")
    client.wait(job.task_id, timeout=600)
    row = _wait_final(job.id)
    assert row.status == db.SUCCEEDED, row.error
    assert abs(row.audio_seconds - _audio_seconds(wav)) < 0.1 and _usage("canvascharge") == row.audio_seconds
