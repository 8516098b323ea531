"""client.submit_diarization / submit_transcript against a real stack: the charge is the measured length
of the file (never a typed number), the upload is stored once per content, the user's file name reaches the
worker, the transcript canvas is sent by name, and a file no job could take charges and sends nothing."""
from __future__ import annotations

import re
import wave
from pathlib import Path

import pytest

from echonote import client, config, db, names

RATE = 16000


def tone_wav(path: Path, seconds: float) -> Path:
    """A 16 kHz 16-bit mono WAV of exactly ``seconds`` (a quiet square wave), outside every data root."""
    path.parent.mkdir(parents=True, exist_ok=True)
    period = b"\x00\x10" * 20 + b"\x00\xf0" * 20  # 40 frames: 400 Hz
    frames = int(seconds * RATE)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(RATE)
        out.writeframes((period * (frames // 40 + 1))[:frames * 2])
    return path


def used_seconds(user: str) -> float:
    return next((u.used_seconds_today for u in db.list_users() if u.name == user), 0.0)


@pytest.mark.slow  # about 30 s: the first job on a fresh worker loads the models
def test_submit_diarization_charges_the_measured_length_and_names_outputs_after_the_users_file(stack, tmp_path):
    audio = tone_wav(tmp_path / "réunion.wav", 2.5)  # uploads keep ASCII names: stored as r_union.wav
    job = client.submit_diarization(audio, user="measured", num_speakers=1)

    row = db.get_job(job.id)
    assert row.audio_seconds == 2.5 and used_seconds("measured") == 2.5, (row.audio_seconds, used_seconds("measured"))
    assert row.kind == "diarize" and Path(row.audio_path).is_relative_to(config.load().path("upload_dir"))
    result = client.wait(job.task_id, timeout=600)
    assert Path(result["rttm_path"]).name.startswith("réunion"), result["rttm_path"]  # source_name was sent
    assert db.get_job(job.id).status == db.SUCCEEDED


def test_submit_diarization_stores_the_same_bytes_once_and_sends_the_given_source_name(stack, tmp_path):
    first = tone_wav(tmp_path / "a" / "take1.wav", 1.5)
    second = tmp_path / "b" / "take1 copy.wav"
    second.parent.mkdir()
    second.write_bytes(first.read_bytes())

    staged = client.stage_audio(first, user="dedup")
    job = client.submit_diarization(second, user="dedup", source_name="board meeting.wav")
    sent = Path(db.get_job(job.id).audio_path)
    assert sent.parent == staged.path.parent and sent.name == "take1_copy.wav"  # the name the user gave
    assert sent.stat().st_ino == staged.path.stat().st_ino, "the same content must reuse the stored bytes"
    assert sorted(p.name for p in staged.path.parent.iterdir()) == ["take1.wav", "take1_copy.wav"]
    result = client.wait(job.task_id, timeout=600)
    assert Path(result["rttm_path"]).name.startswith("board_meeting"), result["rttm_path"]


def test_submit_transcript_sends_the_canvas_by_name_charged_what_was_measured(stack, tmp_path):
    audio = tone_wav(tmp_path / "notes.wav", 2.0)
    job, parts = client.submit_transcript(audio, user="canvas-measured", formats=("txt", "json"))

    assert set(parts) == {names.DIARIZE, names.TRANSCRIBE, names.ATTRIBUTE} and parts[names.ATTRIBUTE] == job.task_id
    row = db.get_job(job.id)
    assert row.kind == "transcript" and row.audio_seconds == 2.0 and used_seconds("canvas-measured") == 2.0
    result = client.wait(job.task_id, timeout=900)
    assert set(result["files"]) == {"txt", "json"} and Path(result["files"]["txt"]).name.startswith("notes")


def test_submit_transcript_without_diarization_sends_transcribe_alone(stack, tmp_path):
    audio = tone_wav(tmp_path / "words.wav", 1.0)
    job, parts = client.submit_transcript(audio, diarize=False, user="words-only")

    assert parts == {names.TRANSCRIBE: job.task_id}
    row = db.get_job(job.id)
    assert row.kind == "transcribe" and row.audio_seconds == 1.0
    assert "words" in client.wait(job.task_id, timeout=600)


@pytest.mark.parametrize("case,expected", [
    ("missing", "no such file"),
    ("not_audio_type", "not an audio type"),
    ("empty", "empty (0 bytes)"),
    ("too_long", "longer than the limit"),
    ("too_big", "larger than the limit"),
])
def test_a_file_no_job_could_take_charges_nothing_and_sends_nothing(stack, tmp_path, monkeypatch, case, expected):
    user = f"refused-{case}"
    audio = {
        "missing": tmp_path / "never-recorded.wav",
        "not_audio_type": tmp_path / "minutes.txt",
        "empty": tmp_path / "empty.wav",
        "too_long": tone_wav(tmp_path / "long.wav", 3.0),
        "too_big": tone_wav(tmp_path / "big.wav", 1.0),
    }[case]
    if case == "not_audio_type":
        audio.write_text("these are meeting notes, not audio\n")
    if case == "empty":
        audio.write_bytes(b"")
    monkeypatch.setenv("ECHONOTE_MAX_AUDIO_SECONDS", "2")  # long.wav lasts 3 s
    if case == "too_big":
        monkeypatch.setenv("ECHONOTE_MAX_AUDIO_BYTES", "20000")  # big.wav holds 32,044 bytes

    for submit in (client.submit_diarization, client.submit_transcript):
        with pytest.raises(client.BadAudio, match=re.escape(expected)):
            submit(audio, user=user)
    assert used_seconds(user) == 0.0 and db.find_jobs(user=user) == []


def test_the_quota_is_checked_against_the_measured_length(stack, tmp_path):
    audio = tone_wav(tmp_path / "over.wav", 2.5)
    db.set_quota("short-quota", 2.0)
    with pytest.raises(client.QuotaExceeded, match="needs 2 s"):  # 2.5 s, printed rounded
        client.submit_diarization(audio, user="short-quota")
    assert used_seconds("short-quota") == 0.0 and db.find_jobs(user="short-quota") == []
    db.set_quota("short-quota", 3.0)
    job = client.submit_diarization(audio, user="short-quota")
    assert db.get_job(job.id).audio_seconds == 2.5 and used_seconds("short-quota") == 2.5
    client.wait(job.task_id, timeout=600)
