"""Speech that segmentation misses: found by silero-vad, given a speaker (echonote.worker.speech_fill)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyannote.core")

from pyannote.core import Annotation  # noqa: E402
from support.annotations import annotation  # noqa: E402

from echonote.worker.speech_fill import assign_regions, fill_missed_speech, uncovered_regions  # noqa: E402


def test_only_uncovered_speech_long_enough_is_added():
    """Speech inside existing turns is left alone; slivers shorter than min_duration are dropped."""
    hyp = annotation((0, 2, "A"), (3, 5, "B"))
    regions = [(0.5, 1.5), (1.9, 3.1), (5.0, 5.1), (6.0, 7.0)]
    assert uncovered_regions(hyp, regions, min_duration=0.2) == [(2.0, 3.0), (6.0, 7.0)]


def test_short_gap_goes_to_the_nearest_turn_and_same_speaker_wins():
    hyp = annotation((0, 2, "A"), (2.6, 5, "B"), (8, 9, "A"), (9.8, 11, "A"))
    added = assign_regions(hyp, [(2.0, 2.2), (5.05, 5.5), (9.0, 9.8)])
    assert [speaker for *_, speaker, _ in added] == ["A", "B", "A"]
    assert {how for *_, how in added} == {"neighbour"}


def test_long_region_goes_to_the_closest_centroid_not_the_neighbour():
    """A region long enough for an embedding follows the voice, not the timeline."""
    hyp = annotation((0, 2, "A"), (10, 12, "B"))
    centroids = np.array([[1.0, 0.0], [0.0, 1.0]])
    added = assign_regions(hyp, [(2.1, 4.0)], centroids=centroids, labels=["A", "B"],
                           embed=lambda s, e: np.array([0.1, 0.9]))
    assert added == [(2.1, 4.0, "B", "embedding")]
    # no centroid close enough: back to the neighbouring turn
    far = assign_regions(hyp, [(2.1, 4.0)], centroids=centroids, labels=["A", "B"],
                         embed=lambda s, e: np.array([-1.0, -1.0]))
    assert far == [(2.1, 4.0, "A", "neighbour")]


def test_fill_adds_speech_to_an_empty_diarization():
    """When segmentation found nothing at all, speech still comes back with one speaker."""
    filled, added = fill_missed_speech(Annotation(uri="x"), [(1.0, 3.0), (4.0, 6.0)])
    assert filled.labels() == ["SPEAKER_00"] and len(added) == 2
    assert filled.get_timeline().duration() == pytest.approx(4.0)
