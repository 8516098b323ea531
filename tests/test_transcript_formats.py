"""Transcript outputs: txt lines, and SRT / WebVTT that real parsers accept."""
from __future__ import annotations

import io
import json

import pytest

from echonote.results.attribution import attribute
from echonote.results.formats import FORMATS, render, to_srt, to_txt, to_vtt

WORDS = [
    {"start": 0.5, "end": 0.9, "word": "Hello.", "probability": 0.9},
    {"start": 1.2, "end": 1.6, "word": "Hi,", "probability": 0.8},
    {"start": 1.6, "end": 2.0, "word": "there.", "probability": 0.7},
    {"start": 3725.25, "end": 3725.25, "word": "a-->b", "probability": 0.5},  # past one hour, zero length
]
TURNS = [{"start": 0.0, "end": 1.0, "speaker": "SPEAKER_00"}, {"start": 1.0, "end": 4000.0, "speaker": "SPEAKER_01"}]


@pytest.fixture
def transcript():
    return attribute(WORDS, TURNS)


def test_txt_has_one_speaker_line_per_utterance(transcript):
    assert to_txt(transcript).splitlines() == ["SPEAKER_00: Hello.", "SPEAKER_01: Hi, there.", "SPEAKER_01: a->b"]


def test_txt_without_speakers_has_no_prefix():
    assert to_txt(attribute(WORDS[:1], None)) == "Hello.\n"


def test_srt_parses(transcript):
    """Each utterance's first cue is labelled; a short cue stays up 1 s, up to the next cue's start."""
    srt = pytest.importorskip("srt")
    cues = list(srt.parse(to_srt(transcript)))
    assert [c.index for c in cues] == [1, 2, 3]
    assert [c.content for c in cues] == ["SPEAKER_00: Hello.", "SPEAKER_01: Hi, there.", "SPEAKER_01: a->b"]
    assert cues[0].start.total_seconds() == 0.5 and cues[0].end.total_seconds() == 1.2  # the next cue starts
    assert cues[1].start.total_seconds() == 1.2 and cues[1].end.total_seconds() == 2.2
    assert cues[2].start.total_seconds() == 3725.25 and cues[2].end > cues[2].start
    assert "01:02:05,250 --> 01:02:06,250" in to_srt(transcript)  # a zero-length word, past one hour


def test_vtt_parses_with_voice_tags(transcript):
    webvtt = pytest.importorskip("webvtt")
    text = to_vtt(transcript)
    assert text.startswith("WEBVTT\n\n")
    cues = list(webvtt.from_buffer(io.StringIO(text)))
    assert [c.voice for c in cues] == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_01"]
    assert [c.text for c in cues] == ["Hello.", "Hi, there.", "a-&gt;b"]
    assert cues[0].start == "00:00:00.500" and cues[2].end == "01:02:06.250"


def test_vtt_without_speakers_has_no_voice_tag():
    webvtt = pytest.importorskip("webvtt")
    (cue,) = webvtt.from_buffer(io.StringIO(to_vtt(attribute(WORDS[:1], None))))
    assert cue.voice is None and cue.raw_text == "Hello."


def test_json_round_trips(transcript):
    assert json.loads(render(transcript, "json")) == transcript


def test_every_format_renders_an_empty_transcript():
    empty = attribute([], None)
    for fmt in FORMATS:
        render(empty, fmt)
    assert to_srt(empty) == "" and to_vtt(empty) == "WEBVTT\n\n"


def test_unknown_format_is_refused(transcript):
    with pytest.raises(ValueError, match="choose one of txt, srt, vtt, json"):
        render(transcript, "docx")
