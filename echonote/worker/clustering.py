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
