"""Score a transcript against a reference: WER on normalised text and speaker-attributed accuracy.

Light (jiwer is imported inside the functions). The reference is an STM file
(``uri channel speaker start end text`` per line, as in pyannote's sample).
Normalisation: lower case, hyphens to spaces, punctuation dropped except
apostrophes inside words; numbers are left as written (the sample's reference
spells them out, and so does Whisper for small numbers).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable, Mapping

__all__ = ["normalise", "read_stm", "score_transcript", "speaker_accuracy", "tokens_with_speakers"]

_NOT_WORD = re.compile(r"[^\w\s']")


def normalise(text: str) -> list[str]:
    """Tokens of ``text`` for WER: lower case, no punctuation (apostrophes inside words kept)."""
    text = _NOT_WORD.sub(" ", text.lower().replace("-", " "))
    return [token.strip("'") for token in text.split() if token.strip("'")]


def read_stm(path: str | os.PathLike) -> list[dict]:
    """``[{speaker, start, end, text}]`` from an STM file (comment lines ``;;`` skipped)."""
    lines = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip() or line.startswith(";;"):
                continue
            fields = line.split(None, 5)
            if len(fields) < 5:
                raise ValueError(f"{path}: not an STM line (uri channel speaker start end text): {line.strip()!r}")
            lines.append({"speaker": fields[2], "start": float(fields[3]), "end": float(fields[4]),
                          "text": fields[5].strip() if len(fields) > 5 else ""})
    return lines


def tokens_with_speakers(items: Iterable[Mapping], text_key: str) -> tuple[list[str], list]:
    """Normalised tokens of each item's text, each with the item's ``speaker`` (None when absent)."""
    tokens, speakers = [], []
    for item in items:
        for token in normalise(str(item[text_key])):
            tokens.append(token)
            speakers.append(item.get("speaker"))
    return tokens, speakers


def _aligned_pairs(output) -> list[tuple[int, int]]:
    """(reference index, hypothesis index) of words jiwer's alignment pairs (hits and substitutions)."""
    pairs = []
    for chunk in output.alignments[0]:
        if chunk.type in ("equal", "substitute"):
            pairs.extend(zip(range(chunk.ref_start_idx, chunk.ref_end_idx),
                             range(chunk.hyp_start_idx, chunk.hyp_end_idx), strict=False))
    return pairs


def speaker_accuracy(ref_speakers: list, hyp_speakers: list, pairs: list[tuple[int, int]]) -> dict:
    """Share of aligned words whose speaker matches under the best one-to-one speaker mapping."""
    ref_labels = sorted({ref_speakers[r] for r, _ in pairs}, key=str)
    hyp_labels = sorted({hyp_speakers[h] for _, h in pairs}, key=str)
    counts = {}
    for r, h in pairs:
        key = (hyp_speakers[h], ref_speakers[r])
        counts[key] = counts.get(key, 0) + 1
    best, mapping = 0, {}
    padded = ref_labels + [None] * max(0, len(hyp_labels) - len(ref_labels))
    for targets in itertools.permutations(padded, len(hyp_labels)):  # speaker counts are small
        matched = sum(counts.get((h, r), 0) for h, r in zip(hyp_labels, targets, strict=False))
        if matched > best or not mapping:
            best, mapping = matched, dict(zip(hyp_labels, targets, strict=False))
    return {"correct": best, "aligned": len(pairs), "reference_words": len(ref_speakers),
            "accuracy_aligned": best / len(pairs) if pairs else 0.0,
            "accuracy_reference": best / len(ref_speakers) if ref_speakers else 0.0,
            "mapping": {str(h): r for h, r in mapping.items()}}


def score_transcript(words: list[Mapping], stm_path: str | os.PathLike) -> dict:
    """WER (and its parts) of ``words`` against an STM reference, plus speaker accuracy when words have speakers."""
    import jiwer

    reference = read_stm(stm_path)
    ref_tokens, ref_speakers = tokens_with_speakers(reference, "text")
    hyp_tokens, hyp_speakers = tokens_with_speakers(words, "word")
    measures = jiwer.process_words(" ".join(ref_tokens), " ".join(hyp_tokens) or "")
    result = {"wer": measures.wer, "substitutions": measures.substitutions, "deletions": measures.deletions,
              "insertions": measures.insertions, "reference_words": len(ref_tokens)}
    if any(speaker is not None for speaker in hyp_speakers):
        result["speakers"] = speaker_accuracy(ref_speakers, hyp_speakers, _aligned_pairs(measures))
    return result
