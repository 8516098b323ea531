"""Voiceprints from the client side: enrol a named voice (a task sent by name), list and remove them.

Enrolment needs the speaker model, so a worker computes it (``echonote.enroll_speaker``); listing
and removing only touch the database and happen here. Voiceprints belong to a user: the one a
job row names (:func:`echonote.client.current_user` unless told otherwise).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from echonote import db, names
from echonote.client.audio_jobs import BadAudio, stage_audio
from echonote.client.jobs import current_user, submit

__all__ = ["Clip", "list_speakers", "remove_speaker", "submit_enrollment"]


@dataclass(frozen=True)
class Clip:
    """Part of an audio file where the person to enrol speaks (whole file when start/end are None)."""

    audio: str | Path
    start: float | None = None
    end: float | None = None


def submit_enrollment(name: str, clips: list[Clip], *, user: str | None = None) -> db.Job:
    """Stage each clip's file for the workers and send ``echonote.enroll_speaker``; returns its job.

    Nothing is charged: enrolment reads a few seconds of audio. A clip whose start is not before its
    end is refused here (:class:`~echonote.client.BadAudio`); a name that cannot be a voiceprint's fails
    the job as bad input."""
    name = name.strip()  # the worker checks the name (echonote.results.identification.check_speaker_name)
    if not clips:
        raise BadAudio(f"give at least one audio clip of {name} speaking")
    sent = []
    for clip in clips:
        if clip.start is not None and clip.end is not None and clip.start >= clip.end:
            raise BadAudio(f"{Path(clip.audio).name}: --start {clip.start:g} is not before --end {clip.end:g}")
        staged = stage_audio(clip.audio, user=user)
        sent.append({"audio_path": staged.address, "start": clip.start, "end": clip.end})
    return submit(names.ENROLL_SPEAKER, {"name": name, "clips": sent}, kind="enroll", user=user)


def list_speakers(user: str | None = None) -> list[dict]:
    """The user's voiceprints: name, model, seconds of speech, when enrolled (no embeddings)."""
    return [{key: value for key, value in row.as_dict().items() if key not in ("embedding", "id", "user_id")}
            for row in db.list_voiceprints(user or current_user())]


def remove_speaker(name: str, user: str | None = None) -> bool:
    """Delete the user's voiceprint ``name``; False when there was none."""
    return db.remove_voiceprint(user or current_user(), name.strip())
