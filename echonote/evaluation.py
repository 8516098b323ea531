"""Diarization scoring: DER with its parts (missed, false alarm, confusion) and JER.

Thin wrapper over ``pyannote.metrics`` that accepts RTTM paths, pyannote
Annotations or echonote result dicts, with an optional UEM and collar. The
``collar`` is pyannote.metrics' own: the total width of the no-score zone
centred on each reference boundary. Overlapped speech is scored unless
``skip_overlap=True``. pyannote is imported inside the functions so that
importing this module stays cheap.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Mapping

__all__ = ["evaluate", "load_annotations"]


def _from_result(result: Mapping, uri: str):
    from pyannote.core import Annotation, Segment

    annotation = Annotation(uri=uri)
    for i, seg in enumerate(result["segments"]):
        annotation[Segment(float(seg["start"]), float(seg["end"])), i] = seg["speaker"]
    return annotation


def load_annotations(source: Any, uri: str | None = None) -> dict:
    """``{uri: Annotation}`` from an RTTM path, an Annotation, a result dict or such a dict of them."""
    from pyannote.core import Annotation

    if isinstance(source, Annotation):
        return {uri or source.uri or "audio": source}
    if isinstance(source, Mapping) and "segments" in source:
        return {uri or "audio": _from_result(source, uri or "audio")}
    if isinstance(source, Mapping):
        return {key: value for key, value in source.items()}
    if isinstance(source, (str, os.PathLike)):
        from pyannote.database.util import load_rttm

        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"RTTM file not found: {path}")
        annotations = load_rttm(str(path))
        if uri is not None:
            if uri not in annotations:
                if len(annotations) == 1:
                    (only,) = annotations.values()
                    return {uri: only}
                raise ValueError(f"{path} has no file {uri!r}; it has {sorted(annotations)}.")
            return {uri: annotations[uri]}
        return annotations
    raise TypeError(f"Cannot read an annotation from {type(source).__name__}; pass an RTTM path or Annotation.")


def _load_uem(uem: Any, uris: list[str]) -> dict:
    from pyannote.core import Segment, Timeline

    if uem is None:
        return {}
    if isinstance(uem, Timeline):
        return {uri: uem for uri in uris}
    if isinstance(uem, tuple) and len(uem) == 2:
        return {uri: Timeline([Segment(float(uem[0]), float(uem[1]))]) for uri in uris}
    if isinstance(uem, Mapping):
        return dict(uem)
    from pyannote.database.util import load_uem

    return load_uem(str(uem))


def evaluate(reference: Any, hypothesis: Any, *, uem: Any = None, collar: float = 0.0,
             skip_overlap: bool = False, uri: str | None = None) -> dict:
    """Score ``hypothesis`` against ``reference``; returns rates (0..1) and seconds, overall and per file.

    ``reference``/``hypothesis``: RTTM path, Annotation, result dict, or ``{uri: Annotation}``.
    ``uem``: UEM path, Timeline, ``(start, end)`` or ``{uri: Timeline}``; without it the
    scored region is the union of both annotations' extents.
    """
    from pyannote.core import Annotation
    from pyannote.metrics.diarization import DiarizationErrorRate, JaccardErrorRate

    references = load_annotations(reference, uri)
    hypotheses = load_annotations(hypothesis, uri)
    if len(references) == 1 and len(hypotheses) == 1 and set(references) != set(hypotheses):
        # single file, different names (e.g. RTTM uri vs result default): score them together
        (ref_uri,) = references
        hypotheses = {ref_uri: next(iter(hypotheses.values()))}
    uems = _load_uem(uem, list(references))

    import warnings

    # without a UEM pyannote.metrics scores the union of both extents, as documented above; it warns each time
    warnings.filterwarnings("ignore", message="'uem' was approximated", category=UserWarning)
    der = DiarizationErrorRate(collar=collar, skip_overlap=skip_overlap)
    jer = JaccardErrorRate(collar=collar, skip_overlap=skip_overlap)
    files = {}
    for name, ref in references.items():
        hyp = hypotheses.get(name, Annotation(uri=name))
        kwargs = {"uem": uems[name]} if name in uems else {}
        with warnings.catch_warnings():  # "uem was approximated": documented behaviour above
            warnings.filterwarnings("ignore", message=".*'uem' was approximated.*")
            details = der(ref, hyp, detailed=True, **kwargs)
            files[name] = {**_der_parts(details), "jer": float(jer(ref, hyp, **kwargs))}

    overall = _der_parts(der[:])
    overall["jer"] = float(abs(jer))
    overall["der"] = float(abs(der))
    return {**overall, "collar": collar, "skip_overlap": skip_overlap, "files": files}


def _der_parts(details: Mapping) -> dict:
    total = float(details["total"])
    missed, false_alarm, confusion = (float(details[k]) for k in ("missed detection", "false alarm", "confusion"))
    rate = (lambda x: x / total) if total > 0 else (lambda x: 0.0 if x == 0 else float("inf"))
    return {
        "der": rate(missed + false_alarm + confusion),
        "missed": rate(missed),
        "false_alarm": rate(false_alarm),
        "confusion": rate(confusion),
        "reference_speech": total,
        "missed_seconds": missed,
        "false_alarm_seconds": false_alarm,
        "confusion_seconds": confusion,
    }
