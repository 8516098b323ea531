"""Subtitle cues from an attributed transcript: short, readable, timed by the words (pure Python, light).

An utterance can last a minute; a subtitle must not. Each utterance is cut into cues between words,
using the times the ASR gave each word (``transcript["words"]``, the utterance's ``word_span``), so
that every cue

- fits on ``MAX_LINES`` lines of at most ``MAX_LINE_CHARS`` characters and lasts at most
  ``MAX_CUE_SECONDS``; a word is never cut (a word longer than a line gets a cue of its own);
- is cut, where there is a choice, after a sentence, else after a clause or a pause, else before a
  conjunction or preposition (an optimal choice over the utterance, not a greedy one);
- stays on screen at least ``MIN_CUE_SECONDS`` where the next cue leaves room, never overlaps the
  next cue and never holds two speakers.

The limits follow Netflix's Timed Text Style Guide (General Requirements, English template): 42
characters per line, 2 lines at most, 5/6 s to 7 s per subtitle event, lines broken after punctuation
or before conjunctions and prepositions, and an out-time extended up to half a second past the speech.

An utterance without word times (a result from before words were kept, or a transcript edited by
hand) has its text spread over its time span in proportion to characters.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["MAX_CUE_SECONDS", "MAX_LINES", "MAX_LINE_CHARS", "MIN_CUE_SECONDS", "Cue", "cues"]

MAX_LINE_CHARS = 42  # characters per line (Netflix's limit for English)
MAX_LINES = 2  # lines per cue (Netflix, and broadcasters generally)
MAX_CUE_SECONDS = 7.0  # Netflix's maximum duration of a subtitle event
MIN_CUE_SECONDS = 1.0  # a little over Netflix's 5/6 s, so that a one-word cue can be read
LONG_PAUSE_SECONDS = 0.5  # a silence this long between two words is a good place to cut
LINGER_SECONDS = 0.5  # a cue may stay this long past its last word (Netflix: 12 frames) to close a gap

_SENTENCE_END = tuple(".?!…")
_CLAUSE_END = tuple(",;:—–")
_CLOSERS = "\"')]}»”’"
# cut before these rather than after them (Netflix: "before conjunctions, before prepositions"); English only
_CUT_BEFORE = frozenset(
    "and but or nor so yet because although though while whereas if unless until when where which who "
    "whom whose that than as to of in on at by for with from about into onto over under after before "
    "between through during without".split())
# cost of a cue, and of a cue too short to read (in full at 0 s, none at MIN_CUE_SECONDS): a cut is worth
# a new cue only where it is a good one. A poor line break counts half a poor cut between cues (both
# lines are read at once, two cues are not).
_CUE_COST, _SHORT_COST, _LINE_CUT_WEIGHT = 2.0, 3.0, 0.5


@dataclass
class Cue:
    """One subtitle: times in milliseconds, its lines, its speaker, and whether it opens an utterance."""

    start: int
    end: int
    lines: list[str]
    speaker: str | None
    opens_turn: bool


@dataclass(frozen=True)
class _Word:
    text: str
    start: float
    end: float


def _spread(text: str, start: float, end: float) -> list[_Word]:
    """The tokens of ``text``, sharing ``start..end`` in proportion to their length (plus a space)."""
    tokens = str(text).split()
    total = sum(len(t) + 1 for t in tokens)
    words, at = [], start
    for token in tokens:
        share = max(0.0, end - start) * (len(token) + 1) / total
        words.append(_Word(token, at, at + share))
        at += share
    return words


def _words_of(transcript: Mapping, utterance: Mapping) -> list[_Word]:
    """The utterance's words with their ASR times; its text spread over its span when they are missing."""
    start, end = float(utterance["start"]), float(utterance["end"])
    text = str(utterance.get("text", ""))
    try:
        first, last = (int(i) for i in utterance["word_span"])
        found = transcript["words"][first:last] if 0 <= first < last else []
        words = [w for item in found for w in _spread(item["word"], float(item["start"]), float(item["end"]))]
    except (KeyError, TypeError, ValueError):
        words = []
    if [w.text for w in words] != text.split():  # no words, or a text changed since: trust the text
        words = _spread(text, start, end)
    return words


def _cut_cost(before: _Word, after: _Word) -> int:
    """How bad a cut between two words is: 0 after a sentence, 1 after a clause or a pause, 2 before a
    conjunction or preposition, 3 anywhere else."""
    ending = before.text.rstrip(_CLOSERS)
    if ending.endswith(_SENTENCE_END):
        return 0
    if ending.endswith(_CLAUSE_END) or after.start - before.end >= LONG_PAUSE_SECONDS:
        return 1
    return 2 if after.text.lower().strip(_CLOSERS + "\"(¿¡“‘") in _CUT_BEFORE else 3


def _wrap(words: Sequence[_Word], width: int, indent: int) -> tuple[int, list[str]] | None:
    """``(cost of the line break, lines)``: the words on one line, else on two (best cut, then even
    lengths); None when they do not fit.

    ``indent``: characters the first line already holds (a speaker label). A single word always fits.
    """
    total = sum(len(w.text) for w in words) + len(words) - 1
    if indent + total <= width or len(words) == 1:
        return 0, [" ".join(w.text for w in words)]
    best, top = None, -1
    for k in range(1, len(words)):
        top += len(words[k - 1].text) + 1  # the first k words and their spaces
        bottom = total - top - 1
        if indent + top > width:
            break
        if bottom > width:
            continue
        cut = _cut_cost(words[k - 1], words[k])
        score = 4 * cut + abs(indent + top - bottom) / 8
        if best is None or score < best[0]:
            best = (score, cut, k)
    if best is None:
        return None
    k = best[2]
    return best[1], [" ".join(w.text for w in words[:k]), " ".join(w.text for w in words[k:])]


def _split(words: list[_Word], indent: int) -> list[tuple[int, int, list[str]]]:
    """``(first, last, lines)`` of each cue: the cuts of least total cost that respect the limits."""
    n = len(words)
    best: list[tuple[float, int, list[str]] | None] = [(0.0, 0, [])] + [None] * n
    capacity = MAX_LINE_CHARS * MAX_LINES
    for first in range(n):
        if best[first] is None:
            continue
        latest, chars = words[first].end, 0
        for last in range(first + 1, n + 1):
            latest, chars = max(latest, words[last - 1].end), chars + len(words[last - 1].text) + 1
            seconds = latest - words[first].start
            wrapped = _wrap(words[first:last], MAX_LINE_CHARS, indent if first == 0 else 0)
            if last > first + 1 and (wrapped is None or seconds > MAX_CUE_SECONDS or len(wrapped[1]) > MAX_LINES):
                break  # adding words only makes it longer
            line_cut, lines = wrapped
            cost = (best[first][0] + _CUE_COST + _LINE_CUT_WEIGHT * line_cut
                    + (0 if last == n else _cut_cost(words[last - 1], words[last]))
                    + _SHORT_COST * max(0.0, 1 - seconds / MIN_CUE_SECONDS) + (1 - min(1.0, chars / capacity)) ** 2)
            if best[last] is None or cost < best[last][0]:
                best[last] = (cost, first, lines)
    spans, last = [], n
    while last > 0:
        _, first, lines = best[last]
        spans.append((first, last, lines))
        last = first
    return spans[::-1]


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def _settle(cues_: list[Cue]) -> None:
    """Lengthen short cues and close small gaps where the next cue allows; never overlap, never exceed max."""
    linger, min_ms, max_ms = _ms(LINGER_SECONDS), _ms(MIN_CUE_SECONDS), _ms(MAX_CUE_SECONDS)
    for index, cue in enumerate(cues_):
        following = cues_[index + 1] if index + 1 < len(cues_) else None
        end = max(cue.end, cue.start + min_ms)
        if following is not None:
            if following.start - cue.end <= linger:
                end = max(end, following.start)
            end = min(end, following.start)
        cue.end = min(end, cue.start + max_ms)
        if cue.end <= cue.start:  # a zero-length word, or the next one starts at the same time: 10 ms
            cue.end = cue.start + 10
            if following is not None:
                following.start = max(following.start, cue.end)
                following.end = max(following.end, following.start)


def cues(transcript: Mapping) -> list[Cue]:
    """The transcript's subtitle cues, in time order (see the module's rules).

    The first line of each utterance's first cue leaves room for ``"SPEAKER: "``, which SRT writes, so
    that SRT and WebVTT files of one transcript have the same cues.
    """
    out: list[Cue] = []
    for utterance in transcript.get("utterances", []):
        words = _words_of(transcript, utterance)
        speaker = utterance.get("speaker")
        indent = len(f"{speaker}: ") if speaker is not None else 0
        for first, last, lines in (_split(words, indent) if words else []):
            part = words[first:last]
            out.append(Cue(_ms(part[0].start), _ms(max(w.end for w in part)), lines, speaker, first == 0))
    out.sort(key=lambda cue: cue.start)
    _settle(out)
    return out
