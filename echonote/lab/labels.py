"""One label per person: speaker labels mapped onto the reference's names once, by the best one-to-one match.

A recording is labelled three ways: the reference RTTM (``speaker90``), its
transcript (``Diane``) and echonote's result (``SPEAKER_00``). The notebooks
map each onto the transcript's names once — the assignment that maximises the
seconds the two labels share — and use those names in every figure and table.
Light: plain Python, no numpy.
"""
from __future__ import annotations

import itertools
from collections import defaultdict

from echonote.results import plots
from echonote.results.scoring import read_stm

#: above this many labels on either side the search falls back to the greedy match of ``plots.map_speakers``
MAX_EXACT = 8


def shared_seconds(hypothesis: list[dict], reference: list[dict]) -> dict[tuple[str, str], float]:
    """(hypothesis label, reference label) -> seconds both are talking."""
    shared: dict[tuple[str, str], float] = defaultdict(float)
    for h in hypothesis:
        for r in reference:
            seconds = min(h["end"], r["end"]) - max(h["start"], r["start"])
            if seconds > 0:
                shared[h["speaker"], r["speaker"]] += seconds
    return dict(shared)


def best_mapping(hypothesis: list[dict], reference: list[dict]) -> dict[str, str]:
    """Hypothesis label -> reference label maximising the shared seconds in total (unmatched keep their own)."""
    hyp, ref = plots.speakers_of(hypothesis), plots.speakers_of(reference)
    if max(len(hyp), len(ref)) > MAX_EXACT:
        return plots.map_speakers(hypothesis, reference)
    shared = shared_seconds(hypothesis, reference)
    padded = ref + [None] * max(0, len(hyp) - len(ref))
    best = max(itertools.permutations(padded, len(hyp)),
               key=lambda targets: sum(shared.get((h, r), 0.0) for h, r in zip(hyp, targets, strict=False)))
    chosen = {h: r for h, r in zip(hyp, best, strict=False) if r is not None and shared.get((h, r), 0.0) > 0}
    taken = set(chosen.values())
    return {h: chosen.get(h, h if h not in taken else f"{h} (unmatched)") for h in hyp}


def named_reference(rttm, stm) -> tuple[list[dict], dict[str, str]]:
    """The reference turns under the transcript's names, and the RTTM label -> name mapping used."""
    turns = plots.read_rttm(rttm)
    mapping = best_mapping(turns, read_stm(stm))
    return plots.relabel(turns, mapping), mapping


def relabel_result(result: dict, mapping: dict[str, str]) -> dict:
    """A copy of a task result whose segments, words, utterances and speaker summary use ``mapping``."""

    def renamed(item):
        if isinstance(item, dict) and "speaker" in item:
            return {**item, "speaker": mapping.get(item["speaker"], item["speaker"])}
        return mapping.get(item, item) if isinstance(item, str) else item

    return {key: [renamed(item) for item in value] if key in ("segments", "words", "utterances", "speakers")
            and isinstance(value, list) else value for key, value in result.items()}


def describe(*mappings: dict[str, str]) -> str:
    """``SPEAKER_00 → Diane, speaker90 → Diane, ...``: what was renamed, for the notebook's text."""
    return ", ".join(f"{old} → {new}" for m in mappings for old, new in sorted(m.items()))
