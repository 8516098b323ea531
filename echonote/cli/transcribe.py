"""``echonote transcribe``: who said what, through the stack (a canvas built from names) or --local."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from echonote import storage
from echonote.cli import audio as cli_audio
from echonote.cli.app import EXIT_USAGE, fail, friendly_errors, main

FORMATS = ("txt", "srt", "vtt", "json")


@main.command()
@cli_audio.audio_arguments
@click.option("--diarize/--no-diarize", default=True, show_default=True,
              help="Attribute words to speakers (diarize and transcribe in parallel, then merge).")
@click.option("--format", "formats", multiple=True, type=click.Choice(FORMATS), default=("txt",), show_default=True,
              help="Transcript formats to write (repeatable); the first is printed.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Also copy the transcripts into this folder.")
@click.option("--language", help="Language code (e.g. en, de, es); default: detect it from the first 30 s of speech.")
@click.option("--backend", type=click.Choice(["offline", "whisper", "endpoint"]), default=None,
              help="offline (default): bundled tiny.en for English, Whisper base for other languages; "
                   "whisper: ECHONOTE_ASR_MODEL; endpoint: ECHONOTE_ASR_BASE_URL.")
@cli_audio.speaker_options
@cli_audio.identify_option
@cli_audio.wait_option
@click.option("--local", is_flag=True,
              help="Run in this process without a broker (needs the worker extra). Same output.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to wait for all files.")
@friendly_errors
def transcribe(audio, diarize, formats, out, language, backend, num_speakers, min_speakers, max_speakers, identify,
               wait, local, timeout):
    """Speaker-attributed transcript of each AUDIO file.

    Through the stack, diarize and transcribe run in parallel on the workers
    and attribute merges them: a chord built from task names only. AUDIO may be
    a URI (s3://bucket/key, https://...); with ECHONOTE_STORAGE_URL set, local
    files go through the object store (see `echonote diarize --help`).
    """
    cli_audio.check_request(audio, min_speakers, max_speakers, wait=wait, local=local, copy_flags={"--out": out})
    if identify and not diarize:
        fail("--identify names the speakers diarization finds: it needs --diarize (the default)", EXIT_USAGE)
    formats = tuple(dict.fromkeys(formats))
    options = {"language": language, "asr_backend": backend, "num_speakers": num_speakers,
               "min_speakers": min_speakers, "max_speakers": max_speakers, "identify": identify}
    if local:
        results = [_run_local(path, diarize, formats, options) for path in audio]
    else:
        results = _run_remote(audio, diarize, formats, options, wait, timeout)
        if results is None:
            return

    def show(path, result):
        if len(audio) > 1:
            click.echo(f"==> {path} <==")
        stored = result.get("file_uris") or {}  # in the object store when the worker wrote them there
        click.echo(storage.read_text(stored.get(formats[0]) or result["files"][formats[0]]), nl=False)
        for fmt, written in {**result["files"], **stored}.items():
            click.echo(f"{fmt}: {written}", err=True)
            if out:
                out.mkdir(parents=True, exist_ok=True)
                cli_audio.copy_result(written, out)
        speakers = ", ".join(f"{s['speaker']}" for s in result.get("speakers", []) if s.get("speaker"))
        speakers = speakers or "not attributed"
        click.echo(f"{path}: {len(result['words'])} words, speakers: {speakers}{_language_note(result)}", err=True)

    cli_audio.report_outcomes(audio, results, show)


def _language_note(result) -> str:
    """``, language: de (detected, p 0.96), model: base``: what the transcript was made with."""
    made = result.get("transcription") or {}
    language, model = result.get("language"), (made.get("model") or {}).get("name")
    if not language:
        return ""
    detection = made.get("language_detection") or {}
    how = "forced" if detection.get("forced") else (
        f"detected, p {detection['probability']:.2f}" if detection.get("probability") is not None else "")
    return f", language: {language}" + (f" ({how})" if how else "") + (f", model: {model}" if model else "")


def _run_remote(audio, diarize, formats, options, wait, timeout):
    from echonote import client
    from echonote.client.terminal import Tracked, follow

    jobs = []
    for path, staged in zip(audio, cli_audio.stage_for_workers(audio), strict=True):
        job, parts = client.submit_transcript(staged, diarize=diarize, formats=formats, language=options["language"],
                                              backend=options["asr_backend"], num_speakers=options["num_speakers"],
                                              min_speakers=options["min_speakers"],
                                              max_speakers=options["max_speakers"], identify=options["identify"])
        cli_audio.announce(path, job.id, wait)
        label = path.name if len(audio) > 1 else ""
        jobs.append((path, [Tracked(f"{label} {name.split('.')[-1]}".strip(), task_id)
                            for name, task_id in parts.items()]))
    if not wait:
        return None
    follow([t for _, tracked in jobs for t in tracked], timeout=timeout, out=sys.stderr)
    results = []
    for path, tracked in jobs:
        failed = [t for t in tracked if t.error]
        if failed:
            results.append(RuntimeError(f"{failed[0].label} failed: {failed[0].error}"))
        else:
            results.append(tracked[-1].value if diarize else _attribute_here(tracked[-1].value, None, path, formats))
    return results


def _attribute_here(transcription, diarization, audio: Path, formats):
    """Merge here; the files are named after ``audio``, the user's own file, and go into this machine's results
    folder under the task's id: beside the worker's words when the worker shares that folder, else (a worker
    elsewhere, sharing no disk) in a folder of the same name here."""
    from echonote import config
    from echonote.results.transcripts import build_transcript

    parts = [p for p in (transcription, diarization) if p]
    out_dir = config.load().path("results_dir") / Path(transcription["result_path"]).parent.name
    try:
        return build_transcript(parts, audio_path=str(audio), formats=formats, out_dir=out_dir)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)


def _run_local(path, diarize, formats, options):
    try:
        from echonote.worker import diarization, transcription
        from echonote.worker.progress import local_progress
    except ImportError as exc:
        cli_audio.worker_extra_missing(exc)
    from echonote.client import current_user
    from echonote.errors import BadInput

    target, roots = path.resolve(), cli_audio.local_roots(path)
    speakers = {key: options[key] for key in ("num_speakers", "min_speakers", "max_speakers")}
    try:
        words = transcription.transcribe_file(
            str(target), backend=options["asr_backend"], language=options["language"], roots=roots,
            source_name=path.name,
            progress=local_progress(f"{path.name} words", transcription.STEP_SPANS))
        found = diarization.diarize_file(
            str(target), roots=roots, out_dir=Path(words["result_path"]).parent, source_name=path.name,
            progress=local_progress(f"{path.name} speakers", diarization.STEP_SPANS),
            identify_for=current_user() if options["identify"] else None, **speakers) if diarize else None
        return _attribute_here(words, found, target, formats)
    except BadInput as exc:
        return exc
