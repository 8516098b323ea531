"""Workflows built from task names only: the light client never imports task code.

``transcript_canvas`` is the teaching example: diarize and transcribe run in
parallel (a group), then attribute merges them (the chord's callback)::

    chord(group(sig("echonote.diarize"), sig("echonote.transcribe")),
          sig("echonote.attribute").on_error(sig("echonote.canvas_failed")))

When a part fails, Celery never runs the callback: it stores a ``ChordError`` as the
callback's result and calls the callback's error callbacks (``link_error``). The job row
follows the callback, so without ``canvas_failed`` it would stay "queued" for ever.
"""
from __future__ import annotations

from celery import chord, group

from echonote import names
from echonote.client.jobs import celery_app, submit, talking_to_broker

#: what attribute writes unless told otherwise
DEFAULT_FORMATS = ("txt", "srt", "vtt", "json")


def transcript_canvas(audio_path: str, *, num_speakers=None, min_speakers=None, max_speakers=None,
                      diarization_backend=None, asr_backend=None, language=None, formats=DEFAULT_FORMATS,
                      source_name: str | None = None, identify: bool = False):
    """The chord for a speaker-attributed transcript of ``audio_path``, by name only; every part names
    its files after ``source_name`` (the user's own file name) when given. With ``identify``, diarize
    names the speakers after the user's voiceprints."""
    app = celery_app()
    common = {"audio_path": audio_path, **({"source_name": source_name} if source_name else {})}
    speakers = {"num_speakers": num_speakers, "min_speakers": min_speakers, "max_speakers": max_speakers,
                **({"identify": True} if identify else {})}
    diarize = app.signature(names.DIARIZE, kwargs={**common, "backend": diarization_backend, **speakers})
    transcribe = app.signature(names.TRANSCRIBE, kwargs={**common, "backend": asr_backend, "language": language})
    attribute = app.signature(names.ATTRIBUTE, kwargs={**common, "formats": list(formats)})
    attribute.on_error(app.signature(names.CANVAS_FAILED))
    return chord(group(diarize, transcribe), attribute)


def identify_chain(audio_path: str, *, user: str | None = None, source_name: str | None = None, **speakers):
    """``diarize | identify_speakers`` by name: diarization's result is the first argument of the task
    that names its speakers after ``user``'s voiceprints (the owner of the job row when there is one)."""
    app = celery_app()
    common = {"audio_path": audio_path, **({"source_name": source_name} if source_name else {})}
    diarize = app.signature(names.DIARIZE, kwargs={**common, **speakers})
    return diarize | app.signature(names.IDENTIFY_SPEAKERS, kwargs={"user": user} if user else {})


def submit_transcript(audio_path: str, *, audio_seconds: float = 0.0, user: str | None = None, **options):
    """Quota check + job row charged ``audio_seconds``, then the canvas; returns the job (which follows
    the final attribute task) and the task ids of every part, for progress bars. The primitive under
    :func:`echonote.client.submit_transcript`, which stages the file and measures the charge first."""
    canvas = transcript_canvas(audio_path, **options)
    parts = {sig.task: sig.freeze().id for sig in canvas.tasks}

    def send(name, kwargs, task_id, headers, **send_options):
        canvas.body.set(task_id=task_id, headers=headers)
        for part in canvas.tasks:  # they measure the audio and settle the job's charge
            part.set(headers={names.CHARGE_HEADER: headers[names.JOB_HEADER]})
        with talking_to_broker():
            return canvas.apply_async(**send_options)

    job = submit(names.ATTRIBUTE, {}, kind="transcript", audio_path=audio_path,
             audio_seconds=audio_seconds, user=user, sender=send)
    return job, {**parts, names.ATTRIBUTE: job.task_id}
