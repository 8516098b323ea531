"""Speaker diarization that embeds only every k-th chunk and stitches the others to it.

pyannote's pipeline slides a 10 s window with a 1 s step and extracts one speaker
embedding per (chunk, local speaker): every second of speech is embedded about
ten times, which dominates CPU time. Consecutive chunks overlap by 90 %, so a
local speaker of chunk ``c`` can usually be identified with a local speaker of a
nearby "anchor" chunk from their co-activity in the shared frames (the
segmentation model labels both). With ``embedding_stride = k`` only anchors
(every k-th chunk) are embedded; a speaker of another chunk inherits its
anchor partner's embedding when their activities agree, and is embedded on its
own otherwise (new voice, ambiguous overlap). Segmentation keeps its fine step,
so boundaries and overlap detection are unchanged.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from pyannote.audio.pipelines import SpeakerDiarization
from pyannote.core import SlidingWindowFeature
from scipy.optimize import linear_sum_assignment

__all__ = ["StitchedSpeakerDiarization", "stitch_to_anchors"]


def stitch_to_anchors(activity: np.ndarray, chunk_step_frames: float, stride: int,
                      agreement: float = 0.8) -> tuple[np.ndarray, dict]:
    """Decide which (chunk, speaker) pairs need their own embedding.

    ``activity``: (chunks, frames, speakers) binary segmentation. Returns ``need``
    (chunks, speakers) bool and ``source`` mapping (chunk, speaker) -> (anchor, speaker)
    for pairs that reuse an anchor's embedding.
    """
    num_chunks, num_frames, num_speakers = activity.shape
    active = activity.sum(axis=1) > 0
    need = np.zeros_like(active)
    source: dict[tuple[int, int], tuple[int, int]] = {}
    anchors = sorted(set(range(0, num_chunks, max(1, stride))) | {num_chunks - 1})
    is_anchor = np.zeros(num_chunks, dtype=bool)
    is_anchor[anchors] = True
    need[is_anchor] = active[is_anchor]
    previous = np.maximum.accumulate(np.where(is_anchor, np.arange(num_chunks), -1))
    for c in np.flatnonzero(~is_anchor):
        a = int(previous[c])
        shift = int(round((c - a) * chunk_step_frames))
        if shift >= num_frames:
            need[c] = active[c]
            continue
        mine, theirs = activity[c, : num_frames - shift], activity[a, shift:]
        co = mine.T @ theirs  # (speakers of c, speakers of anchor): frames active together
        rows, cols = linear_sum_assignment(co, maximize=True)
        for s, t in zip(rows, cols, strict=False):
            if not active[c, s]:
                continue
            own_total = activity[c, :, s].sum()
            inside, partner = mine[:, s].sum(), theirs[:, t].sum()
            # same voice: they agree on the shared frames, and most of s's speech is in them
            if (co[s, t] >= agreement * inside and co[s, t] >= agreement * partner
                    and inside >= 0.5 * own_total and active[a, t]):
                source[(int(c), int(s))] = (a, int(t))
            else:
                need[c, s] = True
    return need, source


class StitchedSpeakerDiarization(SpeakerDiarization):
    """pyannote's SpeakerDiarization with sparse embedding extraction (``embedding_stride``)."""

    def __init__(self, *args, embedding_stride: int = 1, stitch_agreement: float = 0.8,
                 clustering: str = "AgglomerativeClustering", **kwargs):
        relative = clustering == "RelativeAgglomerativeClustering"
        super().__init__(*args, clustering="AgglomerativeClustering" if relative else clustering, **kwargs)
        if relative:
            from echonote.worker.clustering import RelativeAgglomerativeClustering

            self.clustering = RelativeAgglomerativeClustering(metric="cosine")
        self.embedding_stride = int(embedding_stride)
        self.stitch_agreement = float(stitch_agreement)
        self.last_embedding_stats: dict = {}

    def get_embeddings(self, file, binary_segmentations: SlidingWindowFeature, exclude_overlap: bool = False,
                       hook=None):
        if self.training:
            return super().get_embeddings(file, binary_segmentations, exclude_overlap=exclude_overlap, hook=hook)
        data = np.nan_to_num(binary_segmentations.data, nan=0.0).astype(np.float32)
        num_chunks, num_frames, num_speakers = data.shape
        window = binary_segmentations.sliding_window
        frame_step = self._segmentation.model.receptive_field.step
        need, source = stitch_to_anchors(data, window.step / frame_step, self.embedding_stride,
                                         self.stitch_agreement)

        if exclude_overlap:
            min_samples = self._embedding.min_num_samples
            min_frames = math.ceil(num_frames * min_samples / (window.duration * self._embedding.sample_rate))
            clean = data * (data.sum(axis=2, keepdims=True) < 2)
        else:
            min_frames, clean = -1, data

        pairs = [(int(c), int(s)) for c, s in zip(*np.nonzero(need), strict=False)]
        embeddings = np.full((num_chunks, num_speakers, self._embedding.dimension), np.nan, dtype=np.float32)
        batch_size = max(1, self.embedding_batch_size)
        total = math.ceil(len(pairs) / batch_size)
        if hook is not None:
            hook("embeddings", None, total=total, completed=0)
        cached_chunk, cached_waveform = None, None
        for b in range(total):
            batch = pairs[b * batch_size:(b + 1) * batch_size]
            waveforms, masks = [], []
            for c, s in batch:
                if c != cached_chunk:
                    cached_waveform, _ = self._audio.crop(file, window[c], mode="pad")
                    cached_chunk = c
                mask = clean[c, :, s] if clean[c, :, s].sum() > min_frames else data[c, :, s]
                waveforms.append(cached_waveform)
                masks.append(torch.from_numpy(np.ascontiguousarray(mask)))
            result = self._embedding(torch.stack(waveforms), masks=torch.stack(masks))
            for (c, s), vector in zip(batch, result, strict=False):
                embeddings[c, s] = vector
            if hook is not None:
                hook("embeddings", result, total=total, completed=b + 1)
        for (c, s), (a, t) in source.items():
            embeddings[c, s] = embeddings[a, t]
        self.last_embedding_stats = {"computed": len(pairs), "reused": len(source),
                                     "active": int((data.sum(axis=1) > 0).sum())}
        return embeddings
