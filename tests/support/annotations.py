"""Hand-made pyannote annotations for scoring and post-processing tests."""

from __future__ import annotations


def annotation(*turns, uri: str = "x"):
    """An Annotation from ``(start, end, speaker)`` turns."""
    from pyannote.core import Annotation, Segment

    result = Annotation(uri=uri)
    for start, end, speaker in turns:
        result[Segment(start, end)] = speaker
    return result
