"""``echonote.transcribe`` (words with times) and ``echonote.attribute`` (who said them).

Same conventions as ``echonote.diarize``: models once per worker process,
PROGRESS states, bad input fails once with a readable message, passing
failures (an unreachable endpoint, a busy disk) retry with bounded backoff.
The light client chains them by name (:mod:`echonote.client.canvas`).
"""
from __future__ import annotations

from pathlib import Path

from echonote import config, names
from echonote.celery_app import app
from echonote.errors import BadInput, TransientError
from echonote.worker import jobs
from echonote.worker.base_task import JOB_TASK_OPTIONS, EchonoteTask
from echonote.worker.outputs import copy_to_store, output_path, result_dir_for, store_uris, write_json
from echonote.worker.paths import output_stem
from echonote.worker.progress import ProgressReporter

STEP_SPANS = {"decode": (0.0, 5.0), "language": (5.0, 8.0), "transcribe": (8.0, 97.0), "write": (97.0, 100.0),
              "done": (100.0, 100.0)}
DEFAULT_FORMATS = ("txt", "srt", "vtt", "json")


def transcribe_file(audio_path: str, *, backend=None, language=None, progress=None, out_dir: Path | None = None,
                    task_id: str | None = None, roots=None, source_name: str | None = None) -> dict:
    """Transcribe one file and write ``<stem>.words.json`` (the stem of ``source_name`` when given);
    shared by the task and ``--local``."""
    from echonote.worker import transcribe_core
    from echonote.worker.asr import AsrUnavailable, model_loads
    from echonote.worker.backend_options import transcription_options

    cfg = config.load()
    backend = backend or cfg.asr_backend
    try:
        result = transcribe_core.run_transcription(
            audio_path, backend=backend, backend_options=transcription_options(backend, cfg), language=language,
            progress=progress, roots=roots or cfg.audio_roots,
            limits={"max_duration": cfg.max_audio_seconds, "max_bytes": cfg.max_audio_bytes},
        )
    except AsrUnavailable as exc:
        raise TransientError(str(exc)) from exc
    except BadInput:
        raise
    except ValueError as exc:  # AudioInputError, ModelUnavailable, bad options
        raise BadInput(str(exc)) from None
    out = out_dir or result_dir_for(task_id)
    target = output_path(out, output_stem(source_name, audio_path), ".words.json")
    stored = store_uris(out, result_uri=target)  # where it goes in the store, if one is set
    result.update(result_path=str(target), model_loads=model_loads(), **stored)
    write_json(result, target)  # retried on its own; a full disk does not re-run the model
    copy_to_store(stored, {"result_uri": target})
    return result


@app.task(name=names.TRANSCRIBE, base=EchonoteTask, **JOB_TASK_OPTIONS)
def transcribe(self, audio_path: str, backend=None, language=None, job_id=None, source_name=None) -> dict:
    """Words with start/end times and confidence for ``audio_path`` (a path under the data roots)."""
    if not isinstance(audio_path, str) or not audio_path:
        raise BadInput(f"audio_path must be a non-empty string path, got {audio_path!r}")
    out_dir = result_dir_for(self.request.id)  # refuse a hostile task id before any work is done
    reporter = ProgressReporter(self, job_id or jobs.job_id_of(self), STEP_SPANS)
    return transcribe_file(audio_path, backend=backend, language=language, progress=reporter, out_dir=out_dir,
                           source_name=source_name)


@app.task(name=names.ATTRIBUTE, base=EchonoteTask, **JOB_TASK_OPTIONS)
def attribute(self, parts, audio_path=None, formats=DEFAULT_FORMATS, source_name=None) -> dict:
    """Chord callback: ``parts`` are the results of diarize and transcribe, in any order; the transcript
    files are named after ``source_name`` (the user's file) when given, else after ``audio_path``."""
    if not isinstance(parts, (list, tuple)):
        raise BadInput(f"attribute expects the list of results of diarize and transcribe, got {type(parts).__name__}")
    if audio_path is not None and not isinstance(audio_path, str):
        raise BadInput(f"audio_path must be a string path (it names the transcript files), got {audio_path!r}")
    from echonote.results.transcripts import build_transcript

    out_dir = result_dir_for(self.request.id)
    try:
        # build_transcript names files after its audio_path's stem: hand it the safe stem with a dummy suffix
        named = f"{output_stem(source_name, audio_path)}.audio" if (source_name or audio_path) else None
        merged = build_transcript(parts, audio_path=named, formats=tuple(formats), out_dir=out_dir)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    except OSError as exc:
        raise TransientError(f"could not write transcripts: {exc}") from exc
    stored = store_uris(out_dir, **merged["files"])  # {format: URI} when a store is set
    copy_to_store(stored, merged["files"])
    if stored:
        merged.update(file_uris=stored, result_uri=stored.get("json"))
    return merged
