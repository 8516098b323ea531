"""`echonote transcribe` matches `diarize`: several files, the speaker-count options, where --out wrote
each file, and --no-wait printing a command that follows the job (it took one file only, had no
--min/--max-speakers and printed nothing about --out)."""
from __future__ import annotations

import shlex

import pytest
from support.cli_runs import echonote, follow_commands, user_clip

from echonote.results import samples

pytest.importorskip("pyannote.audio", reason="the worker extra is not installed")


@pytest.mark.slow
def test_two_files_with_speaker_bounds_and_out(stack, tmp_path):
    sample = samples.ensure_pyannote_sample()["wav"]
    files = [user_clip(sample, tmp_path / "in", name, start, 10.0)
             for name, start in (("standup.wav", 0.0), ("meeting_room.wav", 12.0))]
    out = tmp_path / "out"
    done = echonote("transcribe", *map(str, files), "--min-speakers", "1", "--max-speakers", "3",
                    "--format", "txt", "--format", "srt", "--out", str(out), cwd=tmp_path, timeout=900)
    assert done.returncode == 0, done.stderr
    for audio in files:
        assert f"==> {audio} <==" in done.stdout
        for ext in ("txt", "srt"):
            assert f"wrote {out / (audio.stem + '.' + ext)}" in done.stdout
            assert (out / f"{audio.stem}.{ext}").read_text().strip()
    expected = ["meeting_room.srt", "meeting_room.txt", "standup.srt", "standup.txt"]
    assert sorted(p.name for p in out.iterdir()) == expected


@pytest.mark.slow
def test_no_wait_prints_a_command_that_follows_the_transcript(stack, tmp_path):
    audio = user_clip(samples.ensure_pyannote_sample()["wav"], tmp_path, "interview.wav", 5.0, 10.0)
    sent = echonote("transcribe", str(audio), "--no-wait", cwd=tmp_path, timeout=120)
    assert sent.returncode == 0, sent.stderr
    [command] = follow_commands(sent.stdout)
    followed = echonote(*shlex.split(command)[1:], cwd=tmp_path, timeout=900)
    assert followed.returncode == 0 and "status:    succeeded" in followed.stdout, followed.stdout + followed.stderr
    assert "interview.txt" in followed.stdout


def test_speaker_bounds_are_checked_before_anything_is_sent(tmp_path):
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"RIFF")
    bad = echonote("transcribe", str(audio), "--min-speakers", "3", "--max-speakers", "2", cwd=tmp_path)
    assert bad.returncode == 2 and "--min-speakers (3) is greater than --max-speakers (2)" in bad.stderr
    copy = echonote("transcribe", str(audio), "--no-wait", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert copy.returncode == 2 and "--no-wait" in copy.stderr and "Traceback" not in copy.stderr
