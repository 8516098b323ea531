"""``echonote transcribe``: who said what, through the stack (a canvas built from names) or --local."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

from echonote import names
from echonote.cli import EXIT_RUNTIME, EXIT_USAGE, _fail, friendly_errors, main

FORMATS = ("txt", "srt", "vtt", "json")


@main.command()
@click.argument("audio", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--diarize/--no-diarize", default=True, show_default=True,
              help="Attribute words to speakers (diarize and transcribe in parallel, then merge).")
@click.option("--format", "formats", multiple=True, type=click.Choice(FORMATS), default=("txt",), show_default=True,
              help="Transcript formats to write (repeatable); the first is printed.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Also copy the transcripts into this folder.")
@click.option("--language", help="Language code (e.g. en); default: detect.")
@click.option("--backend", type=click.Choice(["offline", "whisper", "endpoint"]), default=None,
              help="offline: bundled tiny.en (default); whisper: ECHONOTE_ASR_MODEL; endpoint: ECHONOTE_ASR_BASE_URL.")
@click.option("--num-speakers", type=click.IntRange(min=1), help="Exact number of speakers, if known.")
@click.option("--local", is_flag=True, help="Run in this process without a broker (needs the worker extra). Same output.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to wait.")
@friendly_errors
def transcribe(audio, diarize, formats, out, language, backend, num_speakers, local, timeout):
    """Speaker-attributed transcript of AUDIO.

    Through the stack, diarize and transcribe run in parallel on the workers
    and attribute merges them: a chord built from task names only.
    """
    if not audio.is_file():
        _fail(f"{audio}: no such file", EXIT_USAGE)
    formats = tuple(dict.fromkeys(formats))
    options = {"language": language, "asr_backend": backend, "num_speakers": num_speakers}
    result = _run_local(audio, diarize, formats, options) if local else _run_remote(audio, diarize, formats, options, timeout)
    click.echo(Path(result["files"][formats[0]]).read_text(), nl=False)
    for fmt, path in result["files"].items():
        click.echo(f"{fmt}: {path}", err=True)
        if out:
            out.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, out / Path(path).name)
    speakers = ", ".join(f"{s['speaker']}" for s in result.get("speakers", []) if s.get("speaker")) or "not attributed"
    click.echo(f"{len(result['words'])} words, speakers: {speakers}", err=True)


def _run_remote(audio, diarize, formats, options, timeout):
    from echonote import canvas, client, uploads
    from echonote.cli_diarize import _audio_seconds
    from echonote.progress_display import Tracked, follow

    staged = uploads.stage(audio)
    seconds = _audio_seconds(staged)
    if diarize:
        job, parts = canvas.submit_transcript(str(staged), audio_seconds=seconds, formats=formats,
                                              num_speakers=options["num_speakers"], language=options["language"],
                                              asr_backend=options["asr_backend"])
    else:
        job = client.submit(names.TRANSCRIBE, {"audio_path": str(staged), "language": options["language"],
                                               "backend": options["asr_backend"]},
                            kind="transcribe", audio_path=str(staged), audio_seconds=seconds)
        parts = {names.TRANSCRIBE: job.task_id}
    click.echo(f"{audio}: job {job.id}", err=True)
    tracked = follow([Tracked(name.split(".")[-1], task_id) for name, task_id in parts.items()], timeout=timeout,
                     out=sys.stderr)
    failed = [t for t in tracked if t.error]
    if failed:
        _fail(f"{failed[0].label} failed: {failed[0].error}", EXIT_RUNTIME)
    final = tracked[-1].value
    return final if diarize else _attribute_here(final, None, staged, formats)


def _attribute_here(transcription, diarization, audio, formats):
    from echonote.transcripts import build_transcript

    parts = [p for p in (transcription, diarization) if p]
    try:
        return build_transcript(parts, audio_path=str(audio), formats=formats,
                                out_dir=Path(transcription["result_path"]).parent)
    except ValueError as exc:
        _fail(str(exc), EXIT_USAGE)


def _run_local(audio, diarize, formats, options):
    try:
        from echonote.worker.diarization import diarize_file
        from echonote.worker.transcription import transcribe_file
    except ImportError as exc:
        _fail(f"--local needs the worker extra ({exc.name} is missing): pip install 'echonote[worker]'", EXIT_USAGE)
    from echonote import config
    from echonote.errors import BadInput

    target = audio.resolve()
    roots = [*config.load().audio_roots, target.parent]
    try:
        words = transcribe_file(str(target), backend=options["asr_backend"], language=options["language"], roots=roots)
        speakers = diarize_file(str(target), num_speakers=options["num_speakers"], roots=roots,
                                out_dir=Path(words["result_path"]).parent) if diarize else None
        return _attribute_here(words, speakers, target, formats)
    except BadInput as exc:
        _fail(str(exc), EXIT_USAGE)
