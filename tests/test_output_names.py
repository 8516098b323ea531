"""Outputs are named after the user's own file, not the stored upload: diarize, transcribe and attribute
through the real worker with ``source_name``; a hostile or empty name falls back safely."""
from __future__ import annotations

from pathlib import Path

import pytest

from echonote import client, names
from echonote.testing import chaos
from echonote.worker.paths import MAX_STEM_CHARS, output_stem

pytest.importorskip("pyannote.audio", reason="the worker extra is not installed")


@pytest.mark.parametrize("source_name, expected", [
    ("meeting room (final).m4a", "meeting_room_final"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\ana\\interview.wav", "interview"),
    ("réunion été.mp3", "réunion_été"),
    ("a.b.c.wav", "a.b.c"),
    ("...", "cafe-meeting-0f3a"),
    (None, "cafe-meeting-0f3a"),
    (42, "cafe-meeting-0f3a"),
])
def test_output_stem_is_a_safe_name(source_name, expected):
    assert output_stem(source_name, "/up/tester/0f3a/cafe-meeting-0f3a.wav") == expected


def test_output_stem_is_capped():
    stem = output_stem("x" * 500 + ".wav", "/up/a.wav")
    assert stem == "x" * MAX_STEM_CHARS


@pytest.mark.slow
def test_outputs_and_rttm_uri_carry_the_users_file_name(stack):
    """Outputs were named after the generated upload name (``meeting-f2c2ff16326d.rttm``, RTTM uri
    ``meeting-f2c2ff16326d``) while ``--local`` used ``meeting``."""
    clip = str(chaos.short_clip(8.0))
    given = "../Team meeting (March).m4a"
    diarized = client.wait(client.send_by_name(names.DIARIZE, kwargs={"audio_path": clip, "source_name": given}).id,
                           timeout=300)
    rttm, result = Path(diarized["rttm_path"]), Path(diarized["result_path"])
    assert (rttm.name, result.name) == ("Team_meeting_March.rttm", "Team_meeting_March.json")
    assert {line.split()[1] for line in rttm.read_text().splitlines()} == {"Team_meeting_March"}

    words = client.wait(client.send_by_name(names.TRANSCRIBE, kwargs={"audio_path": clip, "source_name": given}).id,
                        timeout=300)
    assert Path(words["result_path"]).name == "Team_meeting_March.words.json"

    merged = client.wait(client.send_by_name(names.ATTRIBUTE, args=[[diarized, words]],
                                             kwargs={"audio_path": clip, "source_name": given,
                                                     "formats": ["srt", "txt"]}).id, timeout=120)
    assert sorted(Path(p).name for p in merged["files"].values()) == ["Team_meeting_March.srt",
                                                                      "Team_meeting_March.txt"]

    plain = client.wait(client.send_by_name(names.DIARIZE, kwargs={"audio_path": clip}).id, timeout=300)
    assert Path(plain["rttm_path"]).name == f"{Path(clip).stem}.rttm", "without source_name: the audio's stem"
