"""Find the speech that segmentation missed, with a second detector, and give it a speaker.

pyannote's segmentation-3.0 is trained on close, clean speech: on distant or quiet
talkers (a meeting table, a child across the room) it can put P(silence) near 1
on stretches where people audibly talk, and no threshold on its own scores brings
them back. silero-vad (weights inside its wheel) is trained on far more varied
audio and hears them. The two are fused as a union: every region silero calls
speech that the diarization leaves empty is added to it, and gets a speaker:

- long enough for a speaker embedding (``embed_min_duration``): the speaker whose
  centroid is closest to the region's own CAM++ embedding, when it is close enough;
- otherwise (or when no centroid is close): the speaker of the neighbouring turn
  nearest in time (the same speaker on both sides wins outright).

Only regions silero is confident about are added, so false alarms stay low:
silero's own hysteresis (``threshold`` to start, ``threshold - 0.15`` to stop)
and a minimum length per added region.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SileroSpeech", "assign_regions", "fill_missed_speech", "uncovered_regions"]

SAMPLE_RATE = 16_000


class SileroSpeech:
    """silero-vad from its wheel (TorchScript, checksum-verified); speech regions in seconds."""

    def __init__(self):
        import torch

        from echonote.worker.weights import bundled_path

        self.model = torch.jit.load(str(bundled_path("silero-vad")), map_location="cpu")
        self.model.eval()

    def regions(self, waveform: np.ndarray, threshold: float = 0.5, min_speech: float = 0.25,
                min_silence: float = 0.1, pad: float = 0.03) -> list[tuple[float, float]]:
        import torch
        from silero_vad import get_speech_timestamps

        if waveform.size < SAMPLE_RATE // 10:
            return []
        with torch.inference_mode():
            stamps = get_speech_timestamps(
                torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float32)), self.model,
                threshold=threshold, sampling_rate=SAMPLE_RATE, min_speech_duration_ms=int(min_speech * 1000),
                min_silence_duration_ms=int(min_silence * 1000), speech_pad_ms=int(pad * 1000),
                return_seconds=False)
        self.model.reset_states()
        return [(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in stamps]


def uncovered_regions(annotation, regions: list[tuple[float, float]], min_duration: float) -> list[tuple[float, float]]:
    """Parts of ``regions`` where ``annotation`` has no speaker, at least ``min_duration`` long."""
    from pyannote.core import Segment, Timeline

    if not regions:
        return []
    speech = Timeline([Segment(s, e) for s, e in regions if e > s]).support()
    covered = annotation.get_timeline().support()
    gaps = speech.extrude(covered) if len(covered) else speech
    return [(g.start, g.end) for g in gaps if g.duration >= min_duration]


def _nearest_turn(turns: list[tuple[float, float, str]], start: float, end: float) -> str | None:
    """Speaker of the turn nearest to [start, end]; the same speaker on both sides wins."""
    before = [(start - e, label) for s, e, label in turns if e <= start + 1e-6]
    after = [(s - end, label) for s, e, label in turns if s >= end - 1e-6]
    prev = min(before)[1] if before else None
    nxt = min(after)[1] if after else None
    if prev is None or nxt is None or prev == nxt:
        return prev or nxt
    return prev if min(before)[0] <= min(after)[0] else nxt


def assign_regions(annotation, regions: list[tuple[float, float]], *, centroids: np.ndarray | None = None,
                   labels: list[str] | None = None, embed=None, embed_min_duration: float = 1.0,
                   min_similarity: float = 0.3) -> list[tuple[float, float, str, str]]:
    """``(start, end, speaker, how)`` for each region; ``how`` is "embedding" or "neighbour"."""
    turns = [(seg.start, seg.end, label) for seg, _, label in annotation.itertracks(yield_label=True)]
    usable = centroids is not None and labels and embed is not None and len(centroids) == len(labels)
    if usable:
        norms = np.linalg.norm(centroids, axis=1, keepdims=True)
        unit = np.divide(centroids, norms, out=np.zeros_like(centroids), where=norms > 0)
    out = []
    for start, end in regions:
        speaker, how = None, "neighbour"
        if usable and end - start >= embed_min_duration:
            vector = np.asarray(embed(start, end), dtype=np.float64).reshape(-1)
            if np.all(np.isfinite(vector)) and np.linalg.norm(vector) > 0:
                similarity = unit @ (vector / np.linalg.norm(vector))
                best = int(np.argmax(similarity))
                if similarity[best] >= min_similarity:
                    speaker, how = labels[best], "embedding"
        if speaker is None:
            speaker = _nearest_turn(turns, start, end)
        if speaker is None:  # nothing else was found: one speaker for all of it
            speaker = labels[0] if labels else "SPEAKER_00"
        out.append((start, end, speaker, how))
    return out


def fill_missed_speech(annotation, regions: list[tuple[float, float]], *, min_duration: float = 0.2, **assign):
    """A copy of ``annotation`` with the uncovered ``regions`` added; returns ``(annotation, added)``."""
    from pyannote.core import Segment

    gaps = uncovered_regions(annotation, regions, min_duration)
    added = assign_regions(annotation, gaps, **assign)
    filled = annotation.copy()
    for start, end, speaker, _ in added:
        filled[Segment(start, end), f"fill{start:.3f}"] = speaker
    return filled.support(collar=0.0) if added else filled, added
