"""Voiceprints: enrol a named voice once, then name the speakers diarization finds.

A voiceprint is the CAM++ speaker embedding (the diarization backend's own model and weights, see
:mod:`echonote.worker.campplus`) of a few seconds of one person's speech, stored per user in the
database with the model's name and the SHA-256 of its weights. Enrolment and identification embed
speech the same way (:func:`embed_speech`): the speech is cut into windows of up to
:data:`WINDOW_SECONDS`, each embedded, and the unit-length mean kept. A found speaker is embedded from
the turns where it speaks alone, compared (cosine) with every voiceprint of the same model, and named
when the best match passes :data:`THRESHOLD` (one name per speaker and per file,
:func:`echonote.results.identification.assign_names`). Voiceprints of another model are never
compared: the result says which were left out and why.
"""
from __future__ import annotations

import json
from functools import lru_cache

import numpy as np

from echonote import db
from echonote.errors import BadInput
from echonote.results.identification import assign_names, check_speaker_name, relabel_result

__all__ = [
    "MIN_ENROL_SECONDS",
    "MODEL_NAME",
    "THRESHOLD",
    "apply_identification",
    "embed_speech",
    "enroll",
    "model_identity",
    "solo_regions",
    "speaker_scores",
]

SAMPLE_RATE = 16_000
MODEL_NAME = "campplus"
#: cosine similarity from which a found speaker takes a voiceprint's name. Chosen on data by
#: `.venv/bin/python bench/speaker_id.py` (tables in docs/speaker_id.md): 4 s snippets of solo speech from
#: the real-dev recordings and three synthetic espeak conversations, 286 same-speaker and 1660
#: different-speaker pairs. The lowest threshold whose false-accept rate is <= 0.5 % (a wrong name is worse
#: than SPEAKER_NN): 0.51, FAR 0.5 %, FRR 0.0 % (real-dev pairs alone: FAR 0.2 %; equal-error point 0.53:
#: FAR 0.4 %, FRR 0.3 %; at 0.60 FRR is already 3.8 %).
THRESHOLD = 0.51
#: the least speech (seconds, after voice activity detection) a voiceprint is made from
MIN_ENROL_SECONDS = 3.0
#: speech is embedded in windows of at most this many seconds; the voiceprint is their mean
WINDOW_SECONDS = 10.0
#: at most this much of a found speaker's solo speech is embedded (bounds the cost on long files)
MAX_SPEAKER_SECONDS = 60.0
#: solo turns shorter than this carry little of a voice and are not embedded
MIN_TURN_SECONDS = 0.3


def model_identity() -> dict:
    """The name and weights hash of the model voiceprints are made with (the file's checksum is verified)."""
    from echonote.worker.weights import BUNDLED, bundled_path

    bundled_path(MODEL_NAME)
    return {"name": MODEL_NAME, "sha256": BUNDLED[MODEL_NAME].sha256}


@lru_cache(maxsize=1)
def _embedding_model():
    """CAM++ with the diarization backend's options, loaded once per process."""
    from echonote.worker.backends.offline import DEFAULT_EMBEDDING
    from echonote.worker.campplus import load_campplus

    return load_campplus(**DEFAULT_EMBEDDING)


@lru_cache(maxsize=1)
def _speech_detector():
    from echonote.worker.speech_fill import SileroSpeech

    return SileroSpeech()


def _windows(pieces: list[np.ndarray], limit: float | None) -> list[np.ndarray]:
    """The speech ``pieces`` joined and cut into windows of at most WINDOW_SECONDS (a short tail joins the
    window before it), at most ``limit`` seconds in all."""
    speech = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
    if limit is not None:
        speech = speech[:int(limit * SAMPLE_RATE)]
    size = int(WINDOW_SECONDS * SAMPLE_RATE)
    windows = [speech[at:at + size] for at in range(0, speech.size, size)]
    if len(windows) > 1 and windows[-1].size < size // 4:
        windows[-2:] = [np.concatenate(windows[-2:])]
    return [w for w in windows if w.size >= SAMPLE_RATE // 2]


def _pieces(samples: np.ndarray, regions) -> list[np.ndarray]:
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    return [samples[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)] for start, end in regions]


def _embed_pieces(pieces: list[np.ndarray], limit: float | None = None) -> np.ndarray | None:
    import torch

    windows = _windows(pieces, limit)
    if not windows:
        return None
    model = _embedding_model()
    vectors, weights = [], []
    with torch.inference_mode():
        for window in windows:
            vector = np.asarray(model(torch.from_numpy(np.ascontiguousarray(window))[None, None]))[0]
            vectors.append(vector / (np.linalg.norm(vector) or 1.0))
            weights.append(window.size)
    mean = np.average(np.stack(vectors), axis=0, weights=weights)
    return mean / (np.linalg.norm(mean) or 1.0)


def embed_speech(samples: np.ndarray, regions, limit: float | None = None) -> np.ndarray | None:
    """Unit-length CAM++ embedding of the speech in ``regions`` (seconds) of a 16 kHz waveform, joined and
    embedded in windows; None when there is too little of it (under half a second)."""
    return _embed_pieces(_pieces(samples, regions), limit)


def _clip_speech(samples: np.ndarray, start: float | None, end: float | None, label: str):
    """(speech regions in seconds of the whole file, clip length) of the clip ``start``..``end``."""
    duration = samples.size / SAMPLE_RATE
    try:
        start = 0.0 if start is None else float(start)
        end = duration if end is None else min(float(end), duration)
    except (TypeError, ValueError):
        raise BadInput(f"{label}: start and end are seconds (numbers), got {start!r} and {end!r}") from None
    if start < 0 or start >= end:
        raise BadInput(f"{label}: the clip {start:g}..{end:g} s is empty (the file lasts {duration:.1f} s); "
                       "give --start before --end, both within the file.")
    piece = samples[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)]
    regions = [(start + a, start + b) for a, b in _speech_detector().regions(piece)]
    return regions, end - start


def enroll(name: str, clips: list[dict], user: str, *, roots=None, limits=None, progress=None) -> dict:
    """Make ``user``'s voiceprint ``name`` from ``clips`` (``{"audio_path", "start"?, "end"?}``) and store it.

    Refuses (BadInput) a bad name, unreadable audio and clips with less than MIN_ENROL_SECONDS of speech
    in all, saying how much was found."""
    from echonote.worker.inputs import Limits, decode_any

    try:
        name = check_speaker_name(name)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    if not isinstance(clips, (list, tuple)) or not clips:
        raise BadInput("enrolment needs at least one clip: {'audio_path': ..., 'start': ..., 'end': ...}")
    limits = Limits.coerce(limits)
    report = progress or (lambda *args: None)
    identity = model_identity()
    pieces, found = [], []
    for number, clip in enumerate(clips, 1):
        report("embed", number - 1, len(clips))
        if not isinstance(clip, dict) or not isinstance(clip.get("audio_path"), str):
            raise BadInput(f"clip {number} must be {{'audio_path': str, 'start': s, 'end': s}}, got {clip!r}")
        try:
            decoded = decode_any(clip["audio_path"], roots, limits)  # a path under the roots or a store's URI
        except ValueError as exc:
            raise BadInput(str(exc)) from None
        label = str(decoded.path).rstrip("/").rpartition("/")[2]
        regions, length = _clip_speech(decoded.waveform, clip.get("start"), clip.get("end"), label)
        seconds = sum(b - a for a, b in regions)
        found.append(f"{label}: {seconds:.1f} s of speech in {length:.1f} s")
        pieces += _pieces(decoded.waveform, regions)
    speech = sum(piece.size for piece in pieces) / SAMPLE_RATE
    if speech < MIN_ENROL_SECONDS:
        what = "no speech (silence or noise only)" if not speech else f"only {speech:.1f} s of speech"
        raise BadInput(f"cannot enrol {name!r}: found {what} ({'; '.join(found)}); a voiceprint needs at least "
                       f"{MIN_ENROL_SECONDS:g} s of the person speaking. Give a longer clip, widen --start/--end, "
                       "or add another clip of the same person.")
    mean = _embed_pieces(pieces)
    _, replaced = db.save_voiceprint(user, name, model_name=identity["name"], model_sha256=identity["sha256"],
                                     embedding=json.dumps([round(float(x), 6) for x in mean]),
                                     speech_seconds=round(speech, 2))
    report("embed", len(clips), len(clips))
    return {"name": name, "user": user, "model": identity, "speech_seconds": round(speech, 2), "clips": found,
            "replaced": replaced}


def _voiceprints(user: str, identity: dict) -> tuple[dict[str, np.ndarray], list[dict]]:
    """``user``'s voiceprints made by the model of ``identity`` and, for the others, why they were left out."""
    usable, refused = {}, []
    for row in db.list_voiceprints(user):
        if (row.model_name, row.model_sha256) != (identity["name"], identity["sha256"]):
            refused.append({"name": row.name, "reason": (
                f"made by model {row.model_name} (weights {row.model_sha256[:12]}), not by {identity['name']} "
                f"(weights {identity['sha256'][:12]}) which the worker uses now: embeddings of different models "
                f"cannot be compared. Enrol {row.name!r} again with `echonote speakers enroll`.")})
            continue
        usable[row.name] = np.asarray(json.loads(row.embedding), dtype=np.float32)
    return usable, refused


def solo_regions(segments: list[dict]) -> dict[str, list[tuple[float, float]]]:
    """Each speaker's turns with the overlapped parts cut out, long turns first."""
    from pyannote.core import Annotation, Segment

    annotation = Annotation()
    for index, s in enumerate(segments):
        annotation[Segment(s["start"], s["end"]), index] = s["speaker"]
    overlap = annotation.get_overlap()
    solo = {}
    for label in annotation.labels():
        timeline = annotation.label_timeline(label).support().extrude(overlap)
        turns = [(seg.start, seg.end) for seg in timeline if seg.duration >= MIN_TURN_SECONDS]
        solo[str(label)] = sorted(turns, key=lambda t: t[0] - t[1]) or [(s.start, s.end) for s in timeline]
    return solo


def speaker_scores(segments: list[dict], samples: np.ndarray, voiceprints: dict[str, np.ndarray]):
    """``{speaker: {name: cosine similarity}}`` for each found speaker with enough solo speech."""
    scores = {}
    for speaker, regions in solo_regions(segments).items():
        vector = embed_speech(samples, regions, limit=MAX_SPEAKER_SECONDS)
        if vector is not None:
            scores[speaker] = {name: float(np.dot(vector, print_)) for name, print_ in voiceprints.items()}
    return scores


def apply_identification(result: dict, samples: np.ndarray, user: str, *, threshold: float = THRESHOLD) -> dict:
    """``result`` (a diarization result) with its speakers named after ``user``'s voiceprints and an
    ``identification`` entry (model, threshold, scores, voiceprints left out). With no usable voiceprint
    the segments and speakers are returned as they are."""
    identity = model_identity()
    voiceprints, refused = _voiceprints(user, identity)
    info = {"user": user, "model": identity, "threshold": threshold, "voiceprints": sorted(voiceprints),
            "refused": refused, "named": {}}
    if not voiceprints:
        info["note"] = (f"no voiceprint of {identity['name']} enrolled for user {user!r}: speakers keep their "
                        "SPEAKER_NN labels (enrol one with `echonote speakers enroll NAME AUDIO`)")
        return {**result, "identification": info}
    scores = speaker_scores(result["segments"], samples, voiceprints)
    named = assign_names(scores, threshold)
    info["named"] = named
    return {**relabel_result(result, named, scores), "identification": info}
