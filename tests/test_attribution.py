"""Speaker attribution rules: overlap, gaps, no diarization, utterances (pure Python, no models)."""
from __future__ import annotations

import json

import pytest
from support.probes import heavy_after

from echonote.results.attribution import attribute, exclusive_turns, split_results


def w(start, end, word="x"):
    return {"start": start, "end": end, "word": word, "probability": 0.9}


def seg(start, end, speaker):
    return {"start": start, "end": end, "speaker": speaker}


def speakers_of(result):
    return [word["speaker"] for word in result["words"]]


def test_word_goes_to_the_speaker_with_most_overlap():
    """A word straddling a turn change belongs to the turn that covers most of it."""
    result = attribute([w(0.0, 0.5), w(0.9, 1.3), w(1.5, 2.0)], [seg(0, 1.0, "A"), seg(1.0, 2.0, "B")])
    assert speakers_of(result) == ["A", "B", "B"]


def test_word_in_a_gap_goes_to_the_nearest_turn():
    """Words in a diarization pause are not dropped: each goes to the closest turn."""
    result = attribute([w(1.1, 1.2, "near-a"), w(2.7, 2.8, "near-b")], [seg(0, 1.0, "A"), seg(3.0, 4.0, "B")])
    assert speakers_of(result) == ["A", "B"]


def test_words_before_the_first_and_after_the_last_turn():
    result = attribute([w(0.0, 0.1), w(9.0, 9.5)], [seg(1, 2, "A"), seg(3, 4, "B")])
    assert speakers_of(result) == ["A", "B"]


def test_overlap_goes_to_the_speaker_already_talking_by_default():
    """In an overlapped stretch the current speaker keeps the floor until their turn ends."""
    segments = [seg(0, 2.0, "A"), seg(1.5, 4.0, "B")]
    words = [w(1.6, 1.9, "finishing"), w(2.2, 2.5, "starting")]
    assert speakers_of(attribute(words, segments)) == ["A", "B"]
    assert speakers_of(attribute(words, segments, overlap="latest")) == ["B", "B"]
    assert exclusive_turns(segments) == [seg(0, 2.0, "A"), seg(2.0, 4.0, "B")]


def test_longest_rule_keeps_a_backchannel_from_stealing_words():
    segments = [seg(0, 5.0, "A"), seg(2.0, 2.4, "B")]
    words = [w(2.05, 2.35, "inside")]
    assert speakers_of(attribute(words, segments, overlap="longest")) == ["A"]
    assert speakers_of(attribute(words, segments, overlap="latest")) == ["B"]


def test_exclusive_turns_never_overlap():
    segments = [seg(0, 3, "A"), seg(1, 2, "B"), seg(1.5, 5, "C"), seg(4, 6, "A")]
    for rule in ("earliest", "longest", "latest"):
        turns = exclusive_turns(segments, rule)
        assert all(a["end"] <= b["start"] for a, b in zip(turns, turns[1:], strict=False))
        assert turns[0]["start"] == 0 and turns[-1]["end"] == 6


def test_tie_keeps_the_previous_speaker():
    """A word split evenly between two turns stays with the speaker of the word before it."""
    segments = [seg(0, 1.0, "B"), seg(1.0, 2.0, "A")]
    result = attribute([w(0.2, 0.4), w(0.9, 1.1)], segments)
    assert speakers_of(result) == ["B", "B"]


def test_empty_diarization_gives_unattributed_utterances():
    """No speech turns (or no diarization at all): words keep speaker None and still form utterances."""
    words = [w(0.0, 0.4, "one"), w(0.5, 0.9, "two"), w(3.0, 3.2, "three")]
    for diarization in (None, [], {"segments": []}):
        result = attribute(words, diarization)
        assert speakers_of(result) == [None, None, None]
        assert [u["text"] for u in result["utterances"]] == ["one two", "three"]
        assert result["speakers"] == []


def test_no_words():
    result = attribute({"words": []}, [seg(0, 1, "A")])
    assert result["words"] == [] and result["utterances"] == []
    assert result["speakers"] == [{"speaker": "A", "words": 0, "utterances": 0, "speech": 0}]


def test_utterances_split_on_speaker_change_and_long_pause():
    words = [w(0.0, 0.3, "hi"), w(0.4, 0.7, "there"), w(2.5, 2.8, "again"), w(3.0, 3.3, "yes")]
    segments = [seg(0, 2.9, "A"), seg(2.9, 4, "B")]
    result = attribute(words, segments, max_pause=1.0)
    assert [(u["speaker"], u["text"], u["word_span"]) for u in result["utterances"]] == [
        ("A", "hi there", [0, 2]), ("A", "again", [2, 3]), ("B", "yes", [3, 4])]
    assert result["speakers"][0] == {"speaker": "A", "words": 3, "utterances": 2, "speech": 1.0}
    json.dumps(result)  # JSON-serialisable as returned


def test_results_are_accepted_in_either_chord_order():
    transcription = {"words": [w(0, 1, "hello")], "text": "hello"}
    diarization = {"segments": [seg(0, 1, "SPEAKER_00")]}
    assert split_results([diarization, transcription]) == (transcription, diarization)
    assert split_results([transcription]) == (transcription, None)
    with pytest.raises(ValueError, match="echonote.transcribe"):
        split_results([diarization])


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="overlap must be one of"):
        attribute([], [], overlap="loudest")
    with pytest.raises(ValueError, match="max_pause"):
        attribute([], [], max_pause=-1)


def test_transcript_modules_stay_light():
    """Clients import attribution, formats and scoring without numpy, torch or faster-whisper."""
    assert heavy_after("import echonote.results.attribution, echonote.results.formats, echonote.results.scoring") == []
