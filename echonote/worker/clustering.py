"""Agglomerative clustering whose "too small to be a speaker" rule scales with the recording.

pyannote's ``AgglomerativeClustering`` treats clusters with fewer than
``min_cluster_size`` embeddings as fragments of other speakers and merges them
into the nearest large cluster. With a fixed size, the rule means different
things at different lengths: on an 18 s clip 12 embeddings are a third of all
speech (a real second speaker is absorbed, or a noisy one kept), on an hour they
are a second or two (stray clusters survive as extra speakers), and with many
speakers the quiet ones fall under it. Here the size is a fraction of the
embeddings, bounded below: ``max(min_cluster_size, ceil(min_cluster_fraction * n))``.
"""

from __future__ import annotations

import math

import numpy as np
from pyannote.audio.pipelines.clustering import AgglomerativeClustering
from pyannote.pipeline.parameter import Uniform

__all__ = ["RelativeAgglomerativeClustering"]


class RelativeAgglomerativeClustering(AgglomerativeClustering):
    """``AgglomerativeClustering`` with ``min_cluster_fraction`` (0 = pyannote's fixed rule)."""

    def __init__(self, metric: str = "cosine", constrained_assignment: bool = False):
        super().__init__(metric=metric, constrained_assignment=constrained_assignment)
        self.min_cluster_fraction = Uniform(0.0, 0.2)

    def cluster(self, embeddings, min_clusters=None, max_clusters=None, num_clusters=None):
        fixed = self.min_cluster_size
        relative = math.ceil(float(self.min_cluster_fraction) * len(embeddings))
        self.min_cluster_size = max(int(fixed), relative)
        try:
            return super().cluster(embeddings, min_clusters=min_clusters, max_clusters=max_clusters,
                                   num_clusters=num_clusters)
        finally:
            self.min_cluster_size = fixed


def absorb_small_speakers(annotation, centroids, labels: list[str], min_seconds: float, keep_at_least: int = 1):
    """Give speakers with less than ``min_seconds`` of speech in all to the speaker whose centroid is closest.

    A cluster that talks for a second or two in a whole recording is far more often a piece
    of someone else (a laugh, a cough, a turn cut by overlap) than a person of its own; the
    rule is in seconds, so it means the same at every length. ``keep_at_least`` (the
    requested minimum number of speakers) is never undercut. Returns
    ``(annotation, centroids, labels)``, centroids and labels of the speakers kept.
    """
    if centroids is None or len(labels) != len(centroids) or not min_seconds:
        return annotation, centroids, labels
    speech = {label: annotation.label_timeline(label).support().duration() for label in annotation.labels()}
    ranked = sorted(labels, key=lambda label: -speech.get(label, 0.0))
    keep = [label for label in ranked if speech.get(label, 0.0) >= min_seconds]
    keep += [label for label in ranked if label not in keep][: max(0, keep_at_least - len(keep))]
    small = [label for label in annotation.labels() if label not in keep]
    if not keep or not small:
        return annotation, centroids, labels
    index = {label: i for i, label in enumerate(labels)}
    unit = centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    kept = unit[[index[label] for label in keep]]
    mapping = {label: keep[int(np.argmax(kept @ unit[index[label]]))] for label in small}
    merged = annotation.rename_labels(mapping=mapping).support()
    return merged, centroids[[index[label] for label in keep]], keep
