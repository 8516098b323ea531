"""Write an attributed transcript as plain text, SRT, WebVTT or JSON (pure Python, light).

Input is :func:`echonote.attribution.attribute`'s result: one line or cue per
utterance, prefixed with its speaker (``SPEAKER_00: ...``) when it has one.
"""

from __future__ import annotations

import json
from typing import Callable, Mapping

__all__ = ["FORMATS", "render", "to_json", "to_srt", "to_txt", "to_vtt"]


def _timestamp(seconds: float, separator: str) -> str:
    millis = max(0, round(float(seconds) * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _line(utterance: Mapping) -> str:
    # a cue's text must hold no blank line and no "-->" (it would read as a timing line)
    text = " ".join(str(utterance["text"]).split()).replace("-->", "->")
    speaker = utterance.get("speaker")
    return f"{speaker}: {text}" if speaker is not None else text


def _cues(transcript: Mapping, separator: str) -> list[str]:
    """``start --> end`` + text blocks; a zero-length utterance is stretched to 10 ms so players show it."""
    blocks = []
    for utterance in transcript.get("utterances", []):
        start = float(utterance["start"])
        end = max(float(utterance["end"]), start + 0.01)
        blocks.append(f"{_timestamp(start, separator)} --> {_timestamp(end, separator)}\n{_line(utterance)}")
    return blocks


def to_txt(transcript: Mapping) -> str:
    """One ``SPEAKER: text`` line per utterance."""
    return "".join(_line(u) + "\n" for u in transcript.get("utterances", []))


def to_srt(transcript: Mapping) -> str:
    """SubRip: numbered cues, ``HH:MM:SS,mmm`` times, a blank line between cues."""
    return "".join(f"{number}\n{block}\n\n" for number, block in enumerate(_cues(transcript, ","), start=1))


def to_vtt(transcript: Mapping) -> str:
    """WebVTT: the ``WEBVTT`` header, then cues with ``HH:MM:SS.mmm`` times."""
    return "WEBVTT\n\n" + "".join(f"{block}\n\n" for block in _cues(transcript, "."))


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
