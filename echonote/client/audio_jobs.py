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

from echonote import config, db, names, storage
from echonote.client import audio_info, canvas, remote_audio, uploads
from echonote.client.jobs import ClientError, check_broker, current_user, submit
from echonote.errors import BadInput


class BadAudio(ClientError, BadInput):
    """The file cannot be a job's input (missing, not audio, empty, too big or too long); nothing was charged."""


@dataclass(frozen=True)
class StagedAudio:
    """A file where workers may read it, with the seconds a job on it is charged."""

    path: Path | None  # the local file: itself under the data roots, else its copy in the upload root (None: an object)
    seconds: float  # measured (a size-based guess only when nothing could measure it)
    source_name: str  # the user's own file name: the worker names the job's output files after it
    uri: str = ""  # the object's address (s3://, https://) when the audio is in a store: what workers fetch

    @property
    def address(self) -> str:
        """What the task carries: the object's URI, else the local path."""
        return self.uri or str(self.path)


class TranscriptJob(NamedTuple):
    """A transcript's job (it follows the final task) and the task id of every part, for progress bars."""

    job: db.Job
    parts: dict[str, str]


def stage_audio(path: str | Path, *, user: str | None = None, source_name: str | None = None,
                progress: storage.Progress | None = None) -> StagedAudio:
    """``path`` staged for the workers and measured; raises :class:`BadAudio` for a file no job could take.

    With an object store configured (``ECHONOTE_STORAGE_URL``) a local file is uploaded there instead,
    once per content (``progress(sent, total)`` follows the bytes), and the job carries its URI; a URI
    (``s3://``, ``https://``) is checked and measured where it is (:mod:`echonote.client.remote_audio`)
    and sent as is. The broker is asked first (:class:`~echonote.client.BrokerUnavailable`), so a down
    one copies nothing.
    """
    check_broker()
    if storage.is_uri(str(path)):
        try:
            location = storage.parse(str(path))
        except BadInput as exc:
            raise BadAudio(str(exc)) from None
        if location.remote:
            return _stage_object(str(location), source_name or location.name)
        path = location.path
    source = Path(path).expanduser()
    if storage.configured() is not None:
        return _stage_in_store(source, user, source_name or source.name, progress)
    try:
        staged = uploads.stage(source, user=user)
    except (FileNotFoundError, ValueError) as exc:  # missing, or a name that is not an audio type
        raise BadAudio(str(exc)) from exc
    return StagedAudio(staged, _measured_seconds(staged), source_name or source.name)


def _measured_seconds(path: Path) -> float:
    """The charge for ``path``; refuses an empty file and one over the limits the worker applies."""
    return _checked_seconds(path.name, path.stat().st_size, lambda: audio_info.duration_seconds(path),
                            lambda: audio_info.size_guess_seconds(path))


def _checked_seconds(name: str, size: int, measure, guess) -> float:
    """``measure()`` (else ``guess()``) seconds for a file of ``size`` bytes, refused when empty or over a limit."""
    cfg = config.load()
    if size == 0:
        raise BadAudio(f"{name} is empty (0 bytes); choose a file that contains audio.")
    if size > cfg.max_audio_bytes:
        raise BadAudio(f"{name} is {size:,} bytes, larger than the limit of {cfg.max_audio_bytes:,} "
                       "(ECHONOTE_MAX_AUDIO_BYTES). Compress it (e.g. to FLAC or Opus) or split it.")
    seconds = measure()
    if seconds is None:
        return guess()
    if seconds > cfg.max_audio_seconds:
        raise BadAudio(f"{name} lasts {seconds:,.0f} s, longer than the limit of {cfg.max_audio_seconds:,.0f} s "
                       "(ECHONOTE_MAX_AUDIO_SECONDS). Split it into shorter parts.")
    return seconds


def _audio_name(name: str) -> str:
    try:
        return uploads.safe_name(name)
    except ValueError as exc:  # not an audio type
        raise BadAudio(str(exc)) from None


def _stage_in_store(source: Path, user: str | None, source_name: str, progress) -> StagedAudio:
    """Measure the local file, then upload it to the store (once per content); the job carries its URI."""
    if not source.is_file():
        raise BadAudio(f"{source}: no such file. Check the path (relative paths start at {Path.cwd()}).")
    name = _audio_name(source.name)
    seconds = _measured_seconds(source)  # before any byte is sent: a file too long is refused here
    uri = remote_audio.upload(source, user=user or current_user(), name=name, progress=progress, refused=BadAudio)
    return StagedAudio(source.resolve(), seconds, source_name, uri)


def _stage_object(uri: str, source_name: str) -> StagedAudio:
    """An object named by URI: checked (it exists, we may read it, an audio type, within the limits) and
    measured where it is (:func:`echonote.client.remote_audio.measure`), never downloaded here."""
    _audio_name(source_name)
    size, seconds = remote_audio.measure(uri, refused=BadAudio)
    return StagedAudio(None, _checked_seconds(uri, size, lambda: seconds,
                                              lambda: max(size, 0) / remote_audio.GUESS_BYTES_PER_SECOND), source_name,
                       uri)


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
    kwargs = {"audio_path": staged.address, "source_name": staged.source_name,
              **{key: value for key, value in options.items() if value is not None}}
    return submit(names.DIARIZE, kwargs, kind="diarize", audio_path=staged.address, audio_seconds=staged.seconds,
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
            staged.address, audio_seconds=staged.seconds, user=user, source_name=staged.source_name,
            formats=formats, language=language, asr_backend=backend, diarization_backend=diarization_backend,
            num_speakers=num_speakers, min_speakers=min_speakers, max_speakers=max_speakers, identify=identify)
        return TranscriptJob(job, parts)
    kwargs = {"audio_path": staged.address, "source_name": staged.source_name, "language": language,
              "backend": backend}
    job = submit(names.TRANSCRIBE, kwargs, kind="transcribe", audio_path=staged.address,
                 audio_seconds=staged.seconds, user=user)
    return TranscriptJob(job, {names.TRANSCRIBE: job.task_id})
