"""Speaker counting rules that scale with the recording (echonote.worker.clustering)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyannote.audio")

from support.annotations import annotation  # noqa: E402

from echonote.worker.clustering import RelativeAgglomerativeClustering, absorb_small_speakers  # noqa: E402


def _blobs(sizes, seed=0, dim=16, spread=0.05):
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[: len(sizes)]
    return np.concatenate([c + spread * rng.standard_normal((n, dim)) for c, n in zip(centres, sizes, strict=False)])


def _clusters(embeddings, size, fraction):
    clustering = RelativeAgglomerativeClustering()
    clustering.instantiate({"method": "centroid", "threshold": 0.6, "min_cluster_size": size,
                            "min_cluster_fraction": fraction})
    labels = clustering.cluster(embeddings.copy(), min_clusters=1, max_clusters=len(embeddings))
    return len(np.unique(labels))


def test_minimum_cluster_size_grows_with_the_number_of_embeddings():
    """The same small group is a speaker among 40 embeddings and a fragment among 800."""
    short = _blobs([20, 15, 5])
    long = _blobs([400, 395, 5])
    assert _clusters(short, size=3, fraction=0.02) == 3  # 2 % of 40 < 3: the floor rules
    assert _clusters(long, size=3, fraction=0.02) == 2  # 2 % of 800 = 16 > 5: absorbed
    assert _clusters(long, size=3, fraction=0.0) == 3  # pyannote's fixed rule keeps it



def test_a_speaker_with_a_second_of_speech_joins_the_closest_voice():
    hyp = annotation((0, 10, "A"), (10, 20, "B"), (20, 21, "C"), (21, 30, "A"))
    centroids = np.array([[1.0, 0.0], [0.0, 1.0], [0.2, 0.9]])
    merged, kept_centroids, labels = absorb_small_speakers(hyp, centroids, ["A", "B", "C"], min_seconds=2.0)
    assert labels == ["A", "B"] and merged.labels() == ["A", "B"]
    assert merged.label_timeline("B").duration() == pytest.approx(11.0)
    assert kept_centroids.shape == (2, 2)


def test_the_requested_minimum_number_of_speakers_is_kept():
    hyp = annotation((0, 10, "A"), (10, 11, "B"), (11, 12, "C"))
    centroids = np.eye(3)
    merged, _, labels = absorb_small_speakers(hyp, centroids, ["A", "B", "C"], min_seconds=2.0, keep_at_least=2)
    assert len(labels) == 2 and len(merged.labels()) == 2
    unchanged, _, _ = absorb_small_speakers(hyp, centroids, ["A", "B", "C"], min_seconds=0.0)
    assert unchanged.labels() == ["A", "B", "C"]
