"""Outputs are named after the user's file: they carried the generated upload name
(`meeting_room-cf0acd45148f.srt`, RTTM uri `meeting-f2c2ff16326d`) while --local used `meeting`."""
from __future__ import annotations

import pytest
from support.cli_runs import echonote, user_copy

from echonote.results import samples

pytest.importorskip("pyannote.audio", reason="the worker extra is not installed")


@pytest.mark.slow
def test_stack_and_local_name_outputs_after_the_users_file(stack, tmp_path):
    sample = samples.ensure_pyannote_sample()["wav"]
    first = user_copy(sample, tmp_path / "a", "standup.wav")
    # the same bytes under another name: the upload is reused, the outputs must still follow this name
    second = user_copy(sample, tmp_path / "b", "meeting_room.wav")
    for folder in ("first", "remote", "local"):
        (tmp_path / folder).mkdir()
    assert echonote("diarize", str(first), "--rttm", str(tmp_path / "first"), cwd=tmp_path).returncode == 0
    done = echonote("diarize", str(second), "--rttm", str(tmp_path / "remote"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    local = echonote("diarize", str(second), "--local", "--rttm", str(tmp_path / "local"), cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    for folder in ("remote", "local"):
        [rttm] = (tmp_path / folder).iterdir()
        assert rttm.name == "meeting_room.rttm", folder
        assert {line.split()[1] for line in rttm.read_text().splitlines()} == {"meeting_room"}, folder
    assert [p.name for p in (tmp_path / "first").iterdir()] == ["standup.rttm"]


def test_every_part_of_the_transcript_canvas_carries_the_users_name():
    from echonote.client import canvas

    built = canvas.transcript_canvas("/data/uploads/u/0123456789abcdef/x.wav", source_name="meeting_room.wav")
    parts = [*built.tasks, built.body]
    assert [p.kwargs.get("source_name") for p in parts] == ["meeting_room.wav"] * 3
