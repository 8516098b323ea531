"""Jobs on an audio file in one call: stage it, measure it, charge what was measured, send by name.

``submit_diarization(path)`` and ``submit_transcript(path)`` are what the CLI, the panel and the
notebooks call. Each file is first made a :class:`StagedAudio` (:func:`stage_audio`): copied where
workers may read it (once per content, see :mod:`echonote.client.uploads`), its duration measured
(:mod:`echonote.client.audio_info`), and refused with :class:`BadAudio` when it cannot be a job's
input (missing, not an audio type, empty, over the size or duration limit), before anything is
charged or sent. The charge is the measured duration, never a number typed by hand; the worker
settles the difference with what it decodes. :func:`echonote.client.submit` stays the primitive
underneath: quota check, job row, task sent by name.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from echonote import config, db, names
from echonote.client import audio_info, canvas, uploads
from echonote.client.jobs import ClientError, check_broker, submit
from echonote.errors import BadInput


class BadAudio(ClientError, BadInput):
    """The file cannot be a job's input (missing, not audio, empty, too big or too long); nothing was charged."""


@dataclass(frozen=True)
class StagedAudio:
    """A file where workers may read it, with the seconds a job on it is charged."""

    path: Path  # what workers read: the file itself under the data roots, else its copy in the upload root
    seconds: float  # measured (a size-based guess only when nothing could measure it)
    source_name: str  # the user's own file name: the worker names the job's output files after it


class TranscriptJob(NamedTuple):
    """A transcript's job (it follows the final task) and the task id of every part, for progress bars."""

    job: db.Job
    parts: dict[str, str]


def stage_audio(path: str | Path, *, user: str | None = None, source_name: str | None = None) -> StagedAudio:
    """``path`` staged for the workers and measured; raises :class:`BadAudio` for a file no job could take.

    The broker is asked first (:class:`~echonote.client.BrokerUnavailable`), so a down one copies nothing.
    """
    source = Path(path).expanduser()
    check_broker()
    try:
        staged = uploads.stage(source, user=user)
    except (FileNotFoundError, ValueError) as exc:  # missing, or a name that is not an audio type
        raise BadAudio(str(exc)) from exc
    return StagedAudio(staged, _measured_seconds(staged), source_name or source.name)


def _measured_seconds(path: Path) -> float:
    """The charge for ``path``; refuses an empty file and one over the limits the worker applies."""
    cfg = config.load()
    size = path.stat().st_size
    if size == 0:
        raise BadAudio(f"{path.name} is empty (0 bytes); choose a file that contains audio.")
    if size > cfg.max_audio_bytes:
        raise BadAudio(f"{path.name} is {size:,} bytes, larger than the limit of {cfg.max_audio_bytes:,} "
                       "(ECHONOTE_MAX_AUDIO_BYTES). Compress it (e.g. to FLAC or Opus) or split it.")
    seconds = audio_info.duration_seconds(path)
    if seconds is None:
        return audio_info.size_guess_seconds(path)
    if seconds > cfg.max_audio_seconds:
        raise BadAudio(f"{path.name} lasts {seconds:,.0f} s, longer than the limit of {cfg.max_audio_seconds:,.0f} s "
                       "(ECHONOTE_MAX_AUDIO_SECONDS). Split it into shorter parts.")
    return seconds


def _staged(audio: str | Path | StagedAudio, user: str | None, source_name: str | None) -> StagedAudio:
    return audio if isinstance(audio, StagedAudio) else stage_audio(audio, user=user, source_name=source_name)


def submit_diarization(audio: str | Path | StagedAudio, *, num_speakers: int | None = None,
                       min_speakers: int | None = None, max_speakers: int | None = None, backend: str | None = None,
                       user: str | None = None, source_name: str | None = None, identify: bool = False,
                       **send_options) -> db.Job:
    """Diarize ``audio`` (a path, or a :class:`StagedAudio` already checked): stage, measure, charge, send by name.
    With ``identify``, found speakers take the names of the user's voiceprints (``echonote speakers enroll``).

    Unset options are left out of the message, so the worker's settings decide them. ``send_options``
    go to ``send_task`` (e.g. ``queue``).
    """
    staged = _staged(audio, user, source_name)
    options = {"num_speakers": num_speakers, "min_speakers": min_speakers, "max_speakers": max_speakers,
               "backend": backend, "identify": identify or None}
    kwargs = {"audio_path": str(staged.path), "source_name": staged.source_name,
              **{key: value for key, value in options.items() if value is not None}}
    return submit(names.DIARIZE, kwargs, kind="diarize", audio_path=str(staged.path), audio_seconds=staged.seconds,
                  user=user, **send_options)


def submit_transcript(audio: str | Path | StagedAudio, *, diarize: bool = True, language: str | None = None,
                      backend: str | None = None, diarization_backend: str | None = None,
                      num_speakers: int | None = None, min_speakers: int | None = None,
                      max_speakers: int | None = None, formats=canvas.DEFAULT_FORMATS, user: str | None = None,
                      source_name: str | None = None, identify: bool = False) -> TranscriptJob:
    """A transcript of ``audio``: stage, measure, charge, then send by name.

    With ``diarize`` (the default) the canvas of :func:`echonote.client.canvas.transcript_canvas`:
    diarize and transcribe in parallel, attribute merges them and writes ``formats``. Without it,
    ``transcribe`` alone (the words, no speakers; the speaker options and ``formats`` do not apply).
    ``backend`` is the speech recogniser's, ``diarization_backend`` the diarizer's. With ``identify``, the
    speakers take the names of the user's voiceprints.
    """
    staged = _staged(audio, user, source_name)
    if diarize:
        job, parts = canvas.submit_transcript(
            str(staged.path), audio_seconds=staged.seconds, user=user, source_name=staged.source_name,
            formats=formats, language=language, asr_backend=backend, diarization_backend=diarization_backend,
            num_speakers=num_speakers, min_speakers=min_speakers, max_speakers=max_speakers, identify=identify)
        return TranscriptJob(job, parts)
    kwargs = {"audio_path": str(staged.path), "source_name": staged.source_name, "language": language,
              "backend": backend}
    job = submit(names.TRANSCRIBE, kwargs, kind="transcribe", audio_path=str(staged.path),
                 audio_seconds=staged.seconds, user=user)
    return TranscriptJob(job, {names.TRANSCRIBE: job.task_id})
