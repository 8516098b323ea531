"""Diarization scoring: DER with its parts (missed, false alarm, confusion) and JER.

Thin wrapper over ``pyannote.metrics`` that accepts RTTM paths, pyannote
Annotations or echonote result dicts, with an optional UEM and collar. The
``collar`` is pyannote.metrics' own: the total width of the no-score zone
centred on each reference boundary. Overlapped speech is scored unless
``skip_overlap=True``. pyannote is imported inside the functions so that
importing this module stays cheap.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["RTTM_LINE", "NotRTTM", "evaluate", "load_annotations", "read_rttm", "read_uem", "rttm_turns"]

RTTM_LINE = "SPEAKER <uri> 1 <start> <duration> <NA> <NA> <speaker> <NA> <NA>"
UEM_LINE = "<uri> 1 <start> <end>"
# the line types of NIST's RTTM format; only SPEAKER lines are scored, the others are skipped as pyannote does
RTTM_TYPES = frozenset("SEGMENT NOSCORE NO_RT_METADATA LEXEME NON-LEX NON-SPEECH FILLER EDIT IP SU CB A/P "
                       "SPEAKER SPKR-INFO".split())


class NotRTTM(ValueError):
    """A file given as RTTM (or UEM) is not one; the message names the file, the line and the expected format."""


def _text_lines(path: Path, a_kind: str, expected: str) -> list[tuple[int, list[str]]]:
    """``(line number, fields)`` of each line that is neither blank nor a ``;;`` comment (NIST's scoring
    tools skip those); NotRTTM for a file that is not text."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NotRTTM(f"cannot read {path}: {exc.strerror or exc}.") from None
    try:
        if b"\0" in data:
            raise UnicodeError
        text = data.decode("utf-8")
    except UnicodeError:
        raise NotRTTM(f"{path} is not {a_kind} file (binary data: audio?); expected text lines "
                      f"'{expected}'.") from None
    return [(number, line.split()) for number, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith(";;")]


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def rttm_turns(path: str | os.PathLike) -> dict[str, list[tuple[float, float, str]]]:
    """``{uri: [(start, end, speaker)]}`` from an RTTM file, checked line by line (pure Python).

    Lines of another RTTM type (SPKR-INFO, NON-SPEECH...) are skipped, as pyannote does; a file without
    SPEAKER lines is a system's valid "no speech" answer (``write_rttm`` writes it for silence).
    Raises NotRTTM naming the file, the first bad line and the expected format.
    """
    path = Path(path)
    turns: dict[str, list] = {}
    for number, fields in _text_lines(path, "an RTTM", RTTM_LINE):
        speaker = len(fields) >= 8 and fields[0] == "SPEAKER"
        start, duration = (_number(fields[3]), _number(fields[4])) if speaker else (None, None)
        if not 8 <= len(fields) <= 10 or fields[0] not in RTTM_TYPES or speaker and None in (start, duration):
            raise NotRTTM(f"{path} is not an RTTM file: line {number} ({' '.join(fields)[:60]!r}) should read "
                          f"'{RTTM_LINE}' (start and duration in seconds).")
        if speaker:
            turns.setdefault(fields[1], []).append((start, start + duration, fields[7]))
    return turns


def read_rttm(path: str | os.PathLike) -> dict:
    """``{uri: Annotation}`` from an RTTM file checked by :func:`rttm_turns` (pyannote's own reader guesses)."""
    turns = rttm_turns(path)
    from pyannote.core import Annotation, Segment

    annotations = {}
    for uri, found in turns.items():
        annotations[uri] = Annotation(uri=uri)
        for track, (start, end, speaker) in enumerate(found):
            annotations[uri][Segment(start, end), track] = speaker
    return annotations


def read_uem(path: str | os.PathLike) -> dict:
    """``{uri: Timeline}`` from a UEM file (scored regions), checked line by line; NotRTTM if it is not one."""
    path = Path(path)
    regions: dict = {}
    for number, fields in _text_lines(path, "a UEM", UEM_LINE):
        start, end = (_number(fields[2]), _number(fields[3])) if len(fields) == 4 else (None, None)
        if start is None or end is None or end < start:
            raise NotRTTM(f"{path} is not a UEM file: line {number} ({' '.join(fields)[:60]!r}) should read "
                          f"'{UEM_LINE}' (start <= end, in seconds).")
        regions.setdefault(fields[0], []).append((start, end))
    if not regions:
        raise NotRTTM(f"{path} is empty; expected UEM lines '{UEM_LINE}'.")
    from pyannote.core import Segment, Timeline

    return {uri: Timeline([Segment(*region) for region in found], uri=uri) for uri, found in regions.items()}


def _from_result(result: Mapping, uri: str):
    from pyannote.core import Annotation, Segment

    annotation = Annotation(uri=uri)
    for i, seg in enumerate(result["segments"]):
        annotation[Segment(float(seg["start"]), float(seg["end"])), i] = seg["speaker"]
    return annotation


def load_annotations(source: Any, uri: str | None = None) -> dict:
    """``{uri: Annotation}`` from an RTTM path, an Annotation, a result dict or such a dict of them."""
    if isinstance(source, (str, os.PathLike)):
        return _annotations_from_file(Path(source), uri)
    from pyannote.core import Annotation

    if isinstance(source, Annotation):
        return {uri or source.uri or "audio": source}
    if isinstance(source, Mapping) and "segments" in source:
        return {uri or "audio": _from_result(source, uri or "audio")}
    if isinstance(source, Mapping):
        return {key: value for key, value in source.items()}
    raise TypeError(f"Cannot read an annotation from {type(source).__name__}; pass an RTTM path or Annotation.")


def _annotations_from_file(path: Path, uri: str | None) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"RTTM file not found: {path}")
    annotations = read_rttm(path)
    if uri is not None:
        if uri not in annotations:
            if len(annotations) == 1:
                (only,) = annotations.values()
                return {uri: only}
            raise ValueError(f"{path} has no file {uri!r}; it has {sorted(annotations)}.")
        return {uri: annotations[uri]}
    return annotations


def _load_uem(uem: Any, uris: list[str]) -> dict:
    if uem is None:
        return {}
    if isinstance(uem, (str, os.PathLike)):
        return read_uem(uem)
    from pyannote.core import Segment, Timeline

    if isinstance(uem, Timeline):
        return {uri: uem for uri in uris}
    if isinstance(uem, tuple) and len(uem) == 2:
        return {uri: Timeline([Segment(float(uem[0]), float(uem[1]))]) for uri in uris}
    if isinstance(uem, Mapping):
        return dict(uem)
    raise TypeError(f"Cannot read scored regions from {type(uem).__name__}; pass a UEM path, Timeline or (start, end).")


def evaluate(reference: Any, hypothesis: Any, *, uem: Any = None, collar: float = 0.0,
             skip_overlap: bool = False, uri: str | None = None) -> dict:
    """Score ``hypothesis`` against ``reference``; returns rates (0..1) and seconds, overall and per file.

    ``reference``/``hypothesis``: RTTM path, Annotation, result dict, or ``{uri: Annotation}``.
    ``uem``: UEM path, Timeline, ``(start, end)`` or ``{uri: Timeline}``; without it the
    scored region is the union of both annotations' extents.
    """
    references = load_annotations(reference, uri)  # bad files are refused before pyannote.metrics loads
    if not references:
        raise NotRTTM(f"the reference {reference} has no speaker turn: nothing to score against.")
    hypotheses = load_annotations(hypothesis, uri)
    uems = _load_uem(uem, list(references))
    from pyannote.core import Annotation
    from pyannote.metrics.diarization import DiarizationErrorRate, JaccardErrorRate

    if len(references) == 1 and len(hypotheses) == 1 and set(references) != set(hypotheses):
        # single file, different names (e.g. RTTM uri vs result default): score them together
        (ref_uri,) = references
        hypotheses = {ref_uri: next(iter(hypotheses.values()))}

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
