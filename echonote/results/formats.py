"""Write an attributed transcript as plain text, SRT, WebVTT or JSON (pure Python, light).

Input is :func:`echonote.results.attribution.attribute`'s result. Text has one line per utterance,
prefixed with its speaker (``SPEAKER_00: ...``). SRT and WebVTT have short cues cut between words
(:mod:`echonote.results.subtitles`: two lines of 42 characters, 7 s at most). WebVTT names the speaker of
every cue in a voice tag (``<v SPEAKER_00>``), which players and tools read; SRT has no such tag, so
it writes ``SPEAKER_00: `` on the first cue of each utterance (where the text format starts a line),
as broadcast subtitles label a voice when it starts to speak, and not on every cue of a long turn,
where the label would take a third of a line from the words.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from echonote.results.subtitles import cues

__all__ = ["FORMATS", "render", "to_json", "to_srt", "to_txt", "to_vtt"]


def _timestamp(seconds: float, separator: str) -> str:
    millis = max(0, round(float(seconds) * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _plain(text: str) -> str:
    # a cue's text must hold no blank line and no "-->" (it would read as a timing line)
    return " ".join(str(text).split()).replace("-->", "->")


def _line(utterance: Mapping) -> str:
    text, speaker = _plain(utterance["text"]), utterance.get("speaker")
    return f"{speaker}: {text}" if speaker is not None else text


def _vtt_escape(text: str) -> str:
    """WebVTT cue text and voice names: ``&``, ``<`` and ``>`` as character references (spec, 4.2.2)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _timing(cue, separator: str) -> str:
    return f"{_timestamp(cue.start / 1000, separator)} --> {_timestamp(cue.end / 1000, separator)}"


def to_txt(transcript: Mapping) -> str:
    """One ``SPEAKER: text`` line per utterance."""
    return "".join(_line(u) + "\n" for u in transcript.get("utterances", []))


def to_srt(transcript: Mapping) -> str:
    """SubRip: numbered cues, ``HH:MM:SS,mmm`` times, ``SPEAKER: `` on each utterance's first cue."""
    blocks = []
    for number, cue in enumerate(cues(transcript), start=1):
        lines = [_plain(line) for line in cue.lines]
        if cue.opens_turn and cue.speaker is not None:
            lines[0] = f"{cue.speaker}: {lines[0]}"
        blocks.append(f"{number}\n{_timing(cue, ',')}\n" + "\n".join(lines) + "\n\n")
    return "".join(blocks)


def to_vtt(transcript: Mapping) -> str:
    """WebVTT: the ``WEBVTT`` header, then cues with ``HH:MM:SS.mmm`` times and ``<v SPEAKER>`` voice tags."""
    blocks = []
    for cue in cues(transcript):
        text = "\n".join(_vtt_escape(_plain(line)) for line in cue.lines)
        voice = f"<v {_vtt_escape(_plain(cue.speaker))}>" if cue.speaker is not None else ""
        blocks.append(f"{_timing(cue, '.')}\n{voice}{text}\n\n")
    return "WEBVTT\n\n" + "".join(blocks)


def to_json(transcript: Mapping) -> str:
    """The whole transcript (words, speakers, utterances) as indented JSON."""
    return json.dumps(transcript, indent=2, ensure_ascii=False) + "\n"


FORMATS: dict[str, tuple[str, Callable[[Mapping], str]]] = {
    "txt": (".txt", to_txt),
    "srt": (".srt", to_srt),
    "vtt": (".vtt", to_vtt),
    "json": (".json", to_json),
}


def render(transcript: Mapping, fmt: str) -> str:
    """The transcript in format ``fmt`` (txt, srt, vtt or json)."""
    try:
        return FORMATS[fmt][1](transcript)
    except KeyError:
        raise ValueError(f"Unknown transcript format {fmt!r}; choose one of {', '.join(FORMATS)}.") from None
