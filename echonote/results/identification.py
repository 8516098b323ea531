"""Named speakers, the light part: which voiceprint names are allowed, and giving names to found speakers.

The worker (:mod:`echonote.worker.voiceprints`) measures how similar each found speaker is to each
enrolled voice; :func:`assign_names` turns those scores into labels, one name per speaker at most and
never one name for two speakers of the same file; :func:`check_speaker_name` says which names a
voiceprint may have. Pure Python (light): the CLI checks names with it before sending.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["ANONYMOUS_LABEL", "assign_names", "check_speaker_name", "relabel_result"]

#: the labels diarization gives (SPEAKER_00, SPEAKER_01 ...): never a voiceprint's name
ANONYMOUS_LABEL = re.compile(r"SPEAKER_\d+", re.IGNORECASE)
MAX_NAME_LENGTH = 64


def check_speaker_name(name: str) -> str:
    """``name`` stripped, or ValueError saying what a voiceprint name may be."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("a speaker name must be a non-empty text, e.g. Diane")
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"a speaker name has at most {MAX_NAME_LENGTH} characters, got {len(name)}")
    if ANONYMOUS_LABEL.fullmatch(name):
        raise ValueError(f"{name!r} looks like a diarization label (SPEAKER_NN); choose a person's name, e.g. Diane")
    if not name.isprintable() or any(ch in name for ch in "/\\"):
        raise ValueError(f"{name!r} contains control characters or slashes; use letters, digits, spaces, - or _")
    return name


def assign_names(scores: Mapping[str, Mapping[str, float]], threshold: float) -> dict[str, str]:
    """``{speaker: name}`` from ``scores[speaker][name]`` (cosine similarity): greedy by score, best pair
    first, each pair at or above ``threshold``; a name goes to one speaker at most, a speaker gets one
    name at most. Speakers left out keep their label."""
    pairs = sorted(((score, speaker, name) for speaker, row in scores.items() for name, score in row.items()
                    if score >= threshold), key=lambda p: (-p[0], p[1], p[2]))
    named: dict[str, str] = {}
    taken: set[str] = set()
    for _score, speaker, name in pairs:
        if speaker not in named and name not in taken:
            named[speaker] = name
            taken.add(name)
    return named


def relabel_result(result: dict, named: Mapping[str, str], scores: Mapping[str, Mapping[str, float]]) -> dict:
    """A diarization result whose speakers carry the names in ``named``; each speaker entry keeps its
    ``cluster`` (the label diarization gave), its ``score`` (similarity to its name, or to the closest
    voiceprint when unnamed) and ``closest`` (that voiceprint's name)."""
    segments = [{**segment, "speaker": named.get(segment["speaker"], segment["speaker"])}
                for segment in result["segments"]]
    speakers = []
    for entry in result["speakers"]:
        cluster = entry.get("cluster", entry["speaker"])
        row = scores.get(cluster, {})
        closest = max(row, key=row.get) if row else None
        name = named.get(cluster)
        score = row.get(name if name else closest) if row else None
        speakers.append({**entry, "speaker": name or cluster, "cluster": cluster,
                         "score": None if score is None else round(score, 4), "closest": closest})
    segments.sort(key=lambda s: (s["start"], s["end"], s["speaker"]))
    return {**result, "segments": segments, "speakers": speakers}
