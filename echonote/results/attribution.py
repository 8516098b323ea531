"""Who said which word: merge transcribed words with diarization turns (pure Python, light).

Rules, in order:

1. **Exclusive turns.** Diarization may put two speakers on the same stretch of
   time. Each overlapped stretch is given to one speaker so that every instant
   has at most one: by default (``overlap="earliest"``) the speaker who was
   already talking keeps the floor until their own turn ends, and the incoming
   speaker takes over from there. At a turn change the words inside the overlap
   are mostly the current speaker's last words, and Whisper-style ASR usually
   transcribes the voice that holds the floor. Alternatives: ``"longest"`` (the
   longer turn wins) and ``"latest"`` (the speaker who started last wins).
   Measured on pyannote's sample (docs/transcription.md): earliest 95.9 %,
   longest and latest 94.6 % of aligned words right — one word apart, so the
   choice rests on the reasoning more than on the figures.
2. **Most overlap.** Each word gets the speaker whose exclusive turns cover most
   of the word's time span; on a tie, the previous word's speaker if it is one of
   the tied, else the first label in sort order.
3. **Gaps.** A word that touches no turn (a pause in the diarization) gets the
   speaker of the nearest turn (same tie-breaking).
4. **No diarization** (no turns at all): every word's speaker is ``None``.
5. **Utterances.** Consecutive words with the same speaker form an utterance; a
   pause longer than ``max_pause`` seconds between two words starts a new one.

:func:`attribute` returns a JSON-serialisable ``{words, speakers, utterances, rules}``.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["DEFAULT_MAX_PAUSE", "OVERLAP_RULES", "attribute", "exclusive_turns", "split_results"]

DEFAULT_MAX_PAUSE = 1.0  # seconds
OVERLAP_RULES = ("earliest", "longest", "latest")


def _segments_of(diarization: Any) -> list[dict]:
    if diarization is None:
        return []
    if isinstance(diarization, Mapping):
        diarization = diarization.get("segments", [])
    return [dict(s) for s in diarization]


def _words_of(transcription: Any) -> list[dict]:
    if isinstance(transcription, Mapping):
        transcription = transcription.get("words", [])
    return [dict(w) for w in transcription]


def split_results(results: Sequence[Mapping]) -> tuple[Mapping, Mapping | None]:
    """``(transcription, diarization)`` from a chord's results in any order (told apart by their keys)."""
    transcription = next((r for r in results if isinstance(r, Mapping) and "words" in r), None)
    diarization = next((r for r in results if isinstance(r, Mapping) and "segments" in r), None)
    if transcription is None:
        raise ValueError("No transcription among the results: expected a dict with 'words' "
                         "(the output of echonote.transcribe).")
    return transcription, diarization


def exclusive_turns(segments: Iterable[Mapping], overlap: str = "earliest") -> list[dict]:
    """Sorted, non-overlapping ``[{start, end, speaker}]``: each overlapped stretch goes to one speaker.

    ``overlap``: "earliest" (the speaker already talking), "longest" (the longer turn) or "latest"
    (the speaker who started last).
    """
    if overlap not in OVERLAP_RULES:
        raise ValueError(f"overlap must be one of {', '.join(OVERLAP_RULES)}, got {overlap!r}.")
    turns = [(float(s["start"]), float(s["end"]), str(s["speaker"])) for s in segments
             if float(s["end"]) > float(s["start"])]
    if overlap == "earliest":
        rank = lambda t: (-t[0], t[1] - t[0], t[2])  # noqa: E731
    elif overlap == "longest":
        rank = lambda t: (t[1] - t[0], -t[0], t[2])  # noqa: E731  (ties: earlier start, then label)
    else:
        rank = lambda t: (t[0], t[1] - t[0], t[2])  # noqa: E731
    events = sorted({t[0] for t in turns} | {t[1] for t in turns})
    by_start = sorted(turns)
    active: list[tuple] = []
    out: list[dict] = []
    next_turn = 0
    for left, right in zip(events, events[1:], strict=False):
        while next_turn < len(by_start) and by_start[next_turn][0] <= left:
            active.append(by_start[next_turn])
            next_turn += 1
        active = [t for t in active if t[1] > left]
        if not active:
            continue
        speaker = max(active, key=rank)[2]
        if out and out[-1]["speaker"] == speaker and out[-1]["end"] == left:
            out[-1]["end"] = right
        else:
            out.append({"start": left, "end": right, "speaker": speaker})
    return out


def _choose(scores: dict[str, float], previous: str | None, best_is_max: bool) -> str:
    scores = {label: round(value, 6) for label, value in scores.items()}  # float noise must not break ties
    target = max(scores.values()) if best_is_max else min(scores.values())
    tied = sorted(label for label, value in scores.items() if value == target)
    return previous if previous in tied else tied[0]


def _speaker_for(word: Mapping, turns: list[dict], starts: list[float], previous: str | None) -> str | None:
    if not turns:
        return None
    start, end = float(word["start"]), float(word["end"])
    if end <= start:  # a zero-length word counts as a point
        end = start + 1e-6
    first = max(0, bisect.bisect_right(starts, start) - 1)
    covered: dict[str, float] = {}
    for turn in turns[first:bisect.bisect_left(starts, end)]:
        shared = min(end, turn["end"]) - max(start, turn["start"])
        if shared > 0:
            covered[turn["speaker"]] = covered.get(turn["speaker"], 0.0) + shared
    if covered:
        return _choose(covered, previous, best_is_max=True)
    distances: dict[str, float] = {}
    for turn in turns[max(0, first - 1):first + 2]:  # the turns on either side of the gap
        gap = max(turn["start"] - end, start - turn["end"], 0.0)
        distances[turn["speaker"]] = min(gap, distances.get(turn["speaker"], gap))
    return _choose(distances, previous, best_is_max=False)


def _utterances(words: list[dict], max_pause: float) -> list[dict]:
    utterances: list[dict] = []
    for index, word in enumerate(words):
        last = utterances[-1] if utterances else None
        if last is not None and last["speaker"] == word["speaker"] and word["start"] - last["end"] <= max_pause:
            last["end"] = max(last["end"], word["end"])
            last["text"] += " " + word["word"]
            last["word_span"][1] = index + 1
        else:
            utterances.append({"speaker": word["speaker"], "start": word["start"], "end": word["end"],
                               "text": word["word"], "word_span": [index, index + 1]})
    return utterances


def _speakers(words: list[dict], utterances: list[dict], segments: list[dict]) -> list[dict]:
    labels = {str(s["speaker"]) for s in segments} | {w["speaker"] for w in words if w["speaker"] is not None}
    summary = []
    for label in sorted(labels):
        own = [u for u in utterances if u["speaker"] == label]
        summary.append({"speaker": label, "words": sum(u["word_span"][1] - u["word_span"][0] for u in own),
                        "utterances": len(own), "speech": round(sum(u["end"] - u["start"] for u in own), 3)})
    return summary


def attribute(transcription: Any, diarization: Any = None, *, overlap: str = "earliest",
              max_pause: float = DEFAULT_MAX_PAUSE) -> dict:
    """Give each word a speaker and group the words into utterances (see the module's rules).

    ``transcription``: a ``run_transcription`` result or a list of ``{start, end, word, ...}``.
    ``diarization``: a ``run_diarization`` result, a list of ``{start, end, speaker}`` or None.
    """
    if max_pause < 0:
        raise ValueError(f"max_pause must be zero or more seconds, got {max_pause}.")
    segments = _segments_of(diarization)
    turns = exclusive_turns(segments, overlap)
    starts = [t["start"] for t in turns]
    words: list[dict] = []
    previous = None
    for word in sorted(_words_of(transcription), key=lambda w: (float(w["start"]), float(w["end"]))):
        previous = _speaker_for(word, turns, starts, previous)
        words.append({**word, "speaker": previous})
    utterances = _utterances(words, max_pause)
    return {
        "words": words,
        "speakers": _speakers(words, utterances, segments),
        "utterances": utterances,
        "rules": {"overlap": overlap, "max_pause": max_pause, "gaps": "nearest turn"},
    }
